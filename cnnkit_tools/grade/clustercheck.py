"""Before any submission is sent: does the cluster have the client's kit and the data?

Recent Dask deserialises task graphs on the scheduler, so the scheduler needs the kit on its
path as much as the workers do; a scheduler without it records every submission as a grader
error and says why only in its own log. A worker with another kit grades by other rules. So
``./kit grade --scheduler`` first runs :func:`inspect_here` on the scheduler and on every
worker and stops, before grading, unless each imports ``cnnkit``, ``cnnkit_grader`` and
``cnnkit_tools`` with the same code as the client (a digest of each package's ``.py``
files) and each worker has CIFAR-10 at ``$CIFAR10_DIR``.

:func:`inspect_here` travels by value (cloudpickle), so it runs on a machine that lacks the
kit and reports that, instead of failing to unpickle.
"""

import sys

import cloudpickle

PACKAGES = ("cnnkit", "cnnkit_grader", "cnnkit_tools")


def inspect_here(_packages=PACKAGES):
    """On this process: where each kit package comes from, its digest, and the data."""
    import hashlib
    import importlib
    import os
    import socket
    from pathlib import Path

    found = {"host": socket.gethostname(), "packages": {}, "data": None}
    for name in _packages:
        try:
            module = importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - reported, never raised: this is the check
            found["packages"][name] = {"error": f"{type(error).__name__}: {error}"}
            continue
        root = Path(module.__file__).resolve().parent
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        found["packages"][name] = {"path": str(root), "digest": digest.hexdigest()[:16]}
    if "error" in found["packages"].get("cnnkit", {}):
        return found  # no data rules to check by: the missing cnnkit is the problem reported
    from cnnkit import data  # the kit's own rule for where the data is

    try:
        folder = data.local_batches_dir() if os.environ.get(data.ENV_VAR) else None
    except data.DataError as error:
        folder, found["data"] = None, str(error)
    if folder is None:
        found["data"] = found["data"] or f"{data.ENV_VAR} is not set"
    else:
        missing = [f for f in (*data.TRAIN_BATCHES, data.TEST_BATCH) if not (Path(folder) / f).is_file()]
        if missing:
            found["data"] = f"{folder} lacks {', '.join(missing)}"
    return found


cloudpickle.register_pickle_by_value(sys.modules[__name__])


def problems(mine, place, theirs, needs_data):
    """What is wrong with one process (``place``: 'the scheduler' or 'worker ADDRESS')."""
    found = []
    if isinstance(theirs, BaseException):
        return [f"{place}: the check itself failed ({type(theirs).__name__}: {theirs})"]
    for name in PACKAGES:
        there = theirs["packages"].get(name, {})
        if "error" in there:
            found.append(f"{place} cannot import {name} ({there['error']}): put the kit's folder, "
                         f"a checkout of the client's commit, on its PYTHONPATH")
        elif there.get("digest") != mine["packages"][name]["digest"]:
            found.append(f"{place} imports another {name} ({there.get('path')}, "
                         f"{there.get('digest')}; the client's is {mine['packages'][name]['digest']}): "
                         f"check out the client's commit there and restart it")
    if needs_data and theirs["data"]:
        found.append(f"{place} has no CIFAR-10: {theirs['data']} (set CIFAR10_DIR to a folder "
                     f"holding cifar-10-batches-py/)")
    return found


def check(client, wait_seconds=60):
    """Raise tls.Refused listing every problem of the cluster behind ``client``; return the
    number of workers checked."""
    from .tls import Refused

    mine = inspect_here()
    try:
        client.wait_for_workers(1, timeout=wait_seconds)
    except Exception:  # noqa: BLE001 - dask raises TimeoutError of several kinds
        raise Refused(f"the scheduler has no workers after {wait_seconds} s: start them "
                      "(docs/scale.md)") from None
    found = []
    try:
        scheduler = client.run_on_scheduler(inspect_here)
    except Exception as error:  # noqa: BLE001
        scheduler = error
    found += problems(mine, "the scheduler", scheduler, needs_data=False)
    workers = client.run(inspect_here, on_error="return")
    for address, theirs in sorted(workers.items()):
        found += problems(mine, f"worker {address}", theirs, needs_data=True)
    if found:
        raise Refused("the cluster cannot grade with this kit; nothing was sent:\n  - "
                      + "\n  - ".join(found))
    return len(workers)

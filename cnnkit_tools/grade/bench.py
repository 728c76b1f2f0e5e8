"""Benchmark grading a class: serial nbgrader, ./kit grade's local pool, a Dask cluster.

    python -m cnnkit_tools.grade.bench --class N [--workers 2] [--threads-check] [--budget smoke]
    (./kit bench --class N)

Builds a class of N submissions from the reference, the variants, the mutants and a few
faults (the blank release, an unreadable notebook, a kernel that dies), then grades it in
fresh copies of the course, on this machine, one run after another:
1. serially, by one ``nbgrader autograde`` call;
2. by ./kit grade on the local pool (``--workers``, one thread each);
3. through a Dask cluster on loopback (servers.dask_cluster) with 1 worker, then 2.
``--threads-check`` adds the local pool as 1 worker x ``--workers`` threads, to compare the
two ways of using the same cores.

Prints submissions per hour for each run, the speed-ups and the Dask scaling efficiency
from 1 to 2 workers, peak memory per worker, the phase breakdown, whether every run's
grades are identical to serial grading's, and estimates for a class of 500 on 10 and 50
workers from the measured per-submission cost and dispatch overhead. Asserts nothing.
"""

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import course, submissions
from ..lab import mutations, variants
from . import batch, compare, engine as engines, outcome as outcomes
from ..memory import PeakTree
from ..servers import dask_cluster

GIB = 1024 ** 3
ASSIGNMENT = submissions.ASSIGNMENT


def kernel_death(reference):
    """The reference whose first answer cell kills its own kernel."""
    first = next(submissions.grade_id(c) for c in reference.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    return submissions.apply(reference, submissions.Change(
        "kernel_death", "fault", (submissions.Edit(first, None, "import os\nos._exit(1)"),)))


def build_class(directory, n):
    """N submissions: cycling through the reference, variants, mutants and faults."""
    reference = submissions.reference(*submissions.source_and_release(directory))
    release = submissions.read(submissions.source_and_release(directory)[1])
    kinds = [("reference", reference)]
    kinds += [(v.name, submissions.apply(reference, v)) for v in variants.VARIANTS]
    kinds += [(m.name, submissions.apply(reference, m)) for m in mutations.MUTANTS]
    kinds += [("untouched", release), ("unreadable", None), ("kernel_death", kernel_death(reference))]
    # Spread the faults through the class instead of leaving them to the end.
    order = [kinds[0], kinds[-3], kinds[-2], kinds[-1]] + kinds[1:-3]
    students = []
    for number in range(n):
        name, nb = order[number % len(order)]
        student = f"{number:03d}-{name}"
        path = submissions.write(nb if nb is not None else reference, directory, student)
        if nb is None:
            path.write_text('{"cells": [ not a notebook')
        (path.parent / "timestamp.txt").write_text(f"2026-11-20 10:00:{number % 60:02d}.000000 UTC")
        students.append(student)
    return students


def fresh_course(workdir, name, n):
    directory = course.copy_course(Path(workdir) / name)
    course.nbgrader(directory, "generate_assignment", ASSIGNMENT, "--force", PYTHONPATH=str(course.ROOT))
    return directory, build_class(directory, n)


def run_serial(workdir, n):
    directory, students = fresh_course(workdir, "serial", n)
    env = course.environment(PYTHONPATH=str(course.ROOT), NBGRADER_DB_URL=course.db_url(directory))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                               cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    with PeakTree(process.pid) as memory:
        process.wait()
    seconds = time.monotonic() - started
    return {"name": "serial nbgrader autograde", "seconds": seconds, "n": len(students),
            "peak": memory.peak, "view": compare.gradebook_view(course.db_url(directory), ASSIGNMENT, students),
            "phases": notebook_phases(directory, students), "directory": directory}


def notebook_phases(directory, students):
    """Mean seconds per pipeline phase from the autograded notebooks' metadata (contract A)."""
    phases = {}
    for student in students:
        path = course.autograded_notebook(directory, student)
        if not path.exists():
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("cnnkit") or {}
        for phase in meta.get("phases") or []:
            phases.setdefault(phase["phase"], []).append(float(phase["seconds"]))
    return {name: sum(v) / len(v) for name, v in phases.items()}


def run_kit(workdir, name, n, label, **kw):
    directory, students = fresh_course(workdir, name, n)
    url = course.db_url(directory)
    with _env(NBGRADER_DB_URL=url):
        report = batch.grade(directory, ASSIGNMENT, force=True, **kw)
    bind = outcomes.engine(url)
    rows = outcomes.read(bind, ASSIGNMENT)
    bind.dispose()
    _, phases = outcomes.summary(rows)
    busy = sum(row.seconds or 0 for row in rows)
    return {"name": label, "seconds": report.seconds, "n": len(students), "busy": busy,
            "setup": report.setup_seconds,
            "peak": max(report.peak_rss.values() or [0]), "view": compare.gradebook_view(url, ASSIGNMENT, students),
            "phases": phases, "outcomes": outcomes.summary(rows)[0], "directory": directory}


@contextlib.contextmanager
def _env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dask(workdir, n, workers, port):
    cluster_dir = Path(workdir) / f"dask-{workers}"
    with dask_cluster.Cluster(port, workers, cluster_dir) as cluster:
        return run_kit(workdir, f"dask{workers}", n, f"dask cluster, {workers} worker{'s' * (workers > 1)} x 1 thread",
                       scheduler=cluster.address, tls_files=cluster.tls_files())


def per_hour(run):
    return run["n"] / run["seconds"] * 3600


def estimate(cost, overhead, startup, students, workers):
    """Wall seconds for a class: waves of one submission per worker, plus start-up."""
    return startup + math.ceil(students / workers) * (cost + overhead)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="./kit bench --class")
    parser.add_argument("--class", dest="n", type=int, required=True, help="number of submissions")
    parser.add_argument("--workers", type=int, default=engines.default_workers())
    parser.add_argument("--threads-check", action="store_true",
                        help="also grade on 1 worker x --workers threads")
    parser.add_argument("--budget", default=os.environ.get("CNNKIT_BUDGET") or "grading",
                        help="CNNKIT_BUDGET for every run (default: grading)")
    parser.add_argument("--port", type=int, default=dask_cluster.DEFAULT_PORT, help="dask scheduler port")
    args = parser.parse_args(argv)
    os.environ["CNNKIT_BUDGET"] = "" if args.budget == "grading" else args.budget
    batch._bin_on_path()
    print(f"class of {args.n} (reference, variants, mutants, faults), budget {args.budget}, "
          f"{engines.default_workers()} cores", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="cnnkit-classbench-") as workdir:
        runs.append(run_serial(workdir, args.n))
        report_run(runs[-1])
        runs.append(run_kit(workdir, "local", args.n, f"./kit grade, local pool {args.workers} x 1 thread",
                            workers=args.workers))
        report_run(runs[-1])
        if args.threads_check:
            runs.append(run_kit(workdir, "local_threads", args.n,
                                f"./kit grade, local pool 1 x {args.workers} threads", workers=1,
                                threads=args.workers))
            report_run(runs[-1])
        dask1 = run_dask(workdir, args.n, 1, args.port)
        report_run(dask1)
        dask2 = run_dask(workdir, args.n, 2, args.port)
        report_run(dask2)
        runs += [dask1, dask2]
        summarize(runs, dask1, dask2)


def report_run(run):
    print(f"- {run['name']}: {run['seconds']:.0f} s, {per_hour(run):.0f} submissions/hour, "
          f"peak memory per worker {run['peak'] / GIB:.2f} GiB", flush=True)


def summarize(runs, dask1, dask2):
    serial, local = runs[0], runs[1]
    print()
    print(f"local pool vs serial: {serial['seconds'] / local['seconds']:.2f}x throughput")
    speedup = dask1["seconds"] / dask2["seconds"]
    print(f"dask 1 -> 2 workers: speed-up {speedup:.2f}x, scaling efficiency {speedup / 2:.2f}")
    print()
    print("phase breakdown (mean seconds per submission):")
    phases = dict(serial["phases"])
    phases.update({k: v for k, v in local["phases"].items() if k not in phases})
    for name, seconds in phases.items():
        print(f"  {name:>14}: {seconds:6.1f}")
    print()
    print("grades identical to serial grading:")
    for run in runs[1:]:
        lines = compare.differences(serial["view"], run["view"])
        print(f"  {run['name']}: {'yes' if not lines else 'NO'}")
        for line in lines[:10]:
            print(f"    {line}")
    cost = dask1["busy"] / dask1["n"]
    overhead = max(0.0, (dask1["seconds"] - dask1["setup"] - dask1["busy"]) / dask1["n"])
    print()
    print(f"per-submission cost {cost:.1f} s on 1 thread (task wall time); dispatch and recording "
          f"overhead {overhead:.2f} s per submission; start-up {dask1['setup']:.1f} s per run "
          "(template gradebook, connecting) (1-worker Dask run)")
    for workers in (10, 50):
        seconds = estimate(cost, overhead, dask1["setup"], 500, workers)
        print(f"estimate, 500 submissions on {workers} single-thread workers: {seconds / 60:.0f} min")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Before a notebook runs: prove the kernel's sandbox has the environment the lesson needs.

Why: the instructor's locked setup cells import ``cnnkit`` and the lesson's packages, and load
the data. When they fail, every graded cell after them fails too, and the student would be
told that their models were never trained. Such a failure is the grader's, never the
student's. It happened for real: a course folder holding its own copy of the kit, graded with
an environment installed from another clone, bound the course's ``cnnkit`` into the sandbox
while the kernel looked for the environment's, and every student lost 9 points.

So, before the kernel starts, :func:`check` runs the kernel's own Python in a sandbox built as
the kernel's is (same command line, environment, folder and slot) and proves that

- ``import cnnkit`` there loads the copy the grader bound (``sandbox.KIT_MOUNT``), with the same
  code as the ``cnnkit`` the grader itself imported (a digest of its files);
- every package the locked setup cells import can be found.

On failure the submission is not graded: nbgrader records it as failed (a grader error), with
the reason, and no points are charged. ``execute.GuardedExecute`` also turns a locked setup cell
that fails before any of the student's code ran into a grader error (``setup_cells``).
"""

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

from cnnkit_grader.boundary import sandbox


class KitNotBound(RuntimeError):
    """The kernel's sandbox cannot import what the lesson's locked cells need: a grader error."""


def digest(folder):
    """A digest of the Python files of a package folder, by relative path and content."""
    import hashlib
    import os

    total = hashlib.sha256()
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(n for n in names if n.endswith(".py")):
            path = os.path.join(root, name)
            total.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as handle:
                total.update(handle.read())
    return total.hexdigest()


_BODY = r"""
import importlib.util, json, os, sys
request = json.loads(sys.argv[1])
found = {"problems": []}
try:
    import cnnkit
    found["file"] = cnnkit.__file__  # None: an empty folder, imported as a namespace package
    found["digest"] = digest(os.path.dirname(cnnkit.__file__)) if cnnkit.__file__ else None
except Exception as err:
    found["problems"].append("import cnnkit failed: %s: %s" % (type(err).__name__, err))
for name in request["modules"]:
    try:
        missing = importlib.util.find_spec(name) is None
    except Exception as err:
        missing = "%s: %s" % (type(err).__name__, err)
    if missing:
        found["problems"].append("the lesson's package %s cannot be imported%s"
                                 % (name, "" if missing is True else " (%s)" % missing))
print(json.dumps(found))
"""
CHECK = inspect.getsource(digest) + _BODY


def kernel_python(kernel_name):
    """The interpreter the notebook's kernel runs, as jupyter_client resolves its kernel spec."""
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec(kernel_name or "python3").argv
    generic = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}
    return sys.executable if argv[0] in generic else argv[0]


def setup_cells(nb):
    """Indices of the instructor's locked, ungraded code cells that come before any student code."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("locked") or meta.get("solution"):
            break  # the student's code: from here on, a failure may be the student's doing
        if not meta.get("grade"):
            found.append(index)
    return found


def imported(sources):
    """The top-level packages the given cell sources import (``cnnkit`` aside: checked by digest)."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names - {"cnnkit"})


def expected():
    """Where the kernel must find cnnkit, and the digest of the copy the grader imported."""
    import cnnkit

    return f"{sandbox.KIT_MOUNT}/cnnkit/__init__.py", digest(Path(cnnkit.__file__).resolve().parent)


def problems(found):
    """What is wrong with what the sandboxed check found, in words for the instructor."""
    wrong = list(found.get("problems", []))
    if not wrong:
        where, code = expected()
        if found.get("file") != where:
            wrong.append(f"the kernel imports cnnkit from {found.get('file')}, not from the copy the grader "
                         f"bound at {where}")
        elif found.get("digest") != code:
            wrong.append("the cnnkit the kernel imports is not the code the grader imported")
    return wrong


def check(slot_, folder, python, modules, timeout=120):
    """Run the check as the kernel would run; raise KitNotBound with the reasons if it fails."""
    argv = [python, "-c", CHECK, json.dumps({"modules": list(modules)})]
    done = None
    try:
        done = subprocess.run(sandbox.command(argv, slot_, writable=[folder], cwd=folder),
                              capture_output=True, text=True, timeout=timeout)
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as err:
        detail = done.stderr.strip()[-400:] if done is not None else f"{type(err).__name__}: {err}"
        found = {"problems": [f"the check did not run in the kernel's sandbox: {detail}"]}
    wrong = problems(found)
    if wrong:
        raise KitNotBound("grader error, not the student's: before the notebook ran, the kernel's sandbox "
                          "could not import what the lesson's setup cells need: " + "; ".join(wrong)
                          + ". Fix the grading environment (./kit setup in this course folder) and grade "
                          "this submission again.")

"""Course folders for the slow tier: copies of this kit's course, filled with submissions.

Tests never touch the repository's own gradebook or autograded/: each builds its course in a
temporary folder and grades it with the real ``nbgrader autograde``.
"""

import hashlib
import os
import socket
from pathlib import Path

from cnnkit_grader.judge.tasks import grade_id
from cnnkit_tools import course, submissions
from cnnkit_tools.lab import attacks, mutations, variants

ROOT = Path(__file__).resolve().parents[2]
SOURCE, RELEASE = submissions.source_and_release(ROOT)
SMOKE = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "150"}
STALL = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "500", "CNNKIT_NOTEBOOK_TIMEOUT": "400"}
# For runs that share the 2 cores with others (conftest's four batches): one TensorFlow thread
# per submission, as ./kit grade's pool sets, rather than TensorFlow's own two per process
# competing for the same cores. Four references graded side by side took 131 and 138 s this
# way, against 147 and 143 s with TensorFlow's choice (paired, in one session).
SIDE_BY_SIDE = {"CNNKIT_THREADS": "1"}


def make_course(tmp_path_factory, name):
    directory = course.copy_course(tmp_path_factory.mktemp(name))
    course.generate_release(directory)
    return directory


def touched_release():
    """The release with one character added in one answer cell: still blank, but no longer the
    untouched release, so the grader runs it in full (kernel, probe, measurement) rather than
    scoring it without running anything (cnnkit_grader/boundary/untouched.py)."""
    release = submissions.read(RELEASE)
    answer = next(c for c in release.cells if grade_id(c) == "updates_per_epoch")
    answer.source = answer.source.replace("raise NotImplementedError()", "raise NotImplementedError( )")
    return release


def graded_cells(notebook):
    """grade_id -> points for every autograded test cell of a notebook."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"]
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}


CELLS = graded_cells(submissions.read(RELEASE))


def digests(folder):
    """A fingerprint of every entry under folder, links and FIFOs included (never followed or opened)."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink():
            found[str(path)] = "link -> " + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif not path.is_dir():
            found[str(path)] = "special"
    return found


def write_smoke(directory):
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    submissions.write(submissions.read(RELEASE), directory, "untouched")
    for change in variants.CI_VARIANTS + mutations.CI_MUTANTS:
        submissions.write(submissions.apply(reference, change), directory, change.name)


def write_attacks(directory, cifar_dir, chosen):
    """Write the chosen attacks; return the loopback listener the escape attack tries to reach."""
    source, release = submissions.source_and_release(directory)
    reference, blank = submissions.reference(source, release), submissions.read(release)
    submissions.write(reference, directory, "reference")  # a peer for the attacks to look for
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    context = {"root": str(directory), "port": listener.getsockname()[1],
               "heldout": str(Path(cifar_dir) / "cifar-10-batches-py" / "test_batch")}
    for attack in chosen:
        path = submissions.write(reference, directory, attack.name)
        if attack.filename:
            path.unlink()
            path = path.with_name(attack.filename)
        path.write_text(attacks.build(attack, reference, blank, context))
        for name, size in attack.extras.items():
            with open(path.parent / name, "wb") as extra:
                extra.truncate(size)  # sparse: big on paper, instant to make
        if attack.name == "links":
            for name, target in attacks.LINKS.items():
                (path.parent / name).symlink_to(target.format(root=directory))
            os.mkfifo(path.parent / "pipe")
    return listener


def autograded(directory, student):
    return submissions.read(course.autograded_notebook(directory, student))


def shown(directory, student):
    """What the student sees of the grading: every output and the grader's notes, never the code."""
    import json

    nb = autograded(directory, student)
    parts = [json.dumps([cell.get("outputs", []) for cell in nb.cells])]
    parts += nb.metadata.get("cnnkit", {}).get("notes", [])
    return "\n".join(parts)


def verdicts(directory, student):
    """grade_id -> the verdict the grader wrote into the cell's metadata."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata["cnnkit"]["verdict"]
            for cell in autograded(directory, student).cells
            if "verdict" in cell.metadata.get("cnnkit", {})}

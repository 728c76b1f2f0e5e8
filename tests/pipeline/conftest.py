"""Shared fixtures: a throwaway course folder graded by the real nbgrader.

Tests never touch the repository's own gradebook or autograded/: each session copies the
course into a temporary folder. Most pipeline tests use the small ``smoke`` budget;
test_grading_budget.py runs the real grading budget once.
"""

import hashlib
import os
import socket
from pathlib import Path

import pytest

from cnnkit import data
from cnnkit_tools import attacks, course, mutations, submissions, variants

ROOT = Path(__file__).resolve().parent.parent
SOURCE, RELEASE = submissions.source_and_release(ROOT)
LAMBDA_MARK = Path("/tmp/cnnkit-lambda-ran")  # what the attack's Lambda layer writes if it ever runs


@pytest.fixture(scope="session")
def cifar_dir():
    directory = os.environ.get(data.ENV_VAR)
    if not directory:
        pytest.fail(f"{data.ENV_VAR} is not set: run the tests with ./kit test, which builds the "
                    "offline CIFAR-10 stand-in, or point it at a cifar-10-batches-py folder.")
    return Path(directory)


def make_course(tmp_path_factory, name):
    directory = course.copy_course(tmp_path_factory.mktemp(name))
    course.generate_release(directory)
    return directory


def _smoke_submissions(directory):
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    submissions.write(submissions.read(RELEASE), directory, "untouched")
    for change in variants.CI_VARIANTS + mutations.CI_MUTANTS:
        submissions.write(submissions.apply(reference, change), directory, change.name)


def _attack_submissions(directory, cifar_dir):
    """Write every attack; return the loopback listener the escape attack tries to reach."""
    reference = submissions.reference(*submissions.source_and_release(directory))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    context = {"root": str(directory), "port": listener.getsockname()[1],
               "heldout": str(Path(cifar_dir) / "cifar-10-batches-py" / "test_batch")}
    for attack in attacks.ATTACKS:
        path = submissions.write(reference, directory, attack.name)
        if attack.filename:
            path.unlink()
            path = path.with_name(attack.filename)
        path.write_text(attacks.build(attack, reference, context))
        for name, size in attack.extras.items():
            with open(path.parent / name, "wb") as extra:
                extra.truncate(size)  # sparse: big on paper, instant to make
    return listener


def digests(folder):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def batches(tmp_path_factory, cifar_dir):
    """The smoke and attack courses, both autograded at once under the smoke budget.

    The two nbgrader runs go in parallel: much of grading is single-threaded (kernel start,
    imports, saving models), so the second core is otherwise idle.
    """
    smoke = make_course(tmp_path_factory, "smoke_course")
    _smoke_submissions(smoke)
    attack = make_course(tmp_path_factory, "attack_course")
    listener = _attack_submissions(attack, cifar_dir)
    LAMBDA_MARK.unlink(missing_ok=True)
    before = digests(attack / "submitted")
    runs = {name: course.start(folder, "autograde", submissions.ASSIGNMENT, "--force",
                               log=folder / "autograde.log", CNNKIT_BUDGET="smoke", CNNKIT_CELL_TIMEOUT=60)
            for name, folder in (("smoke", smoke), ("attack", attack))}
    return {"smoke": (smoke, runs["smoke"]),
            "attack": (attack, runs["attack"], listener, before)}


@pytest.fixture(scope="session")
def smoke_course(batches):
    """A course folder with every fixture submission autograded under the smoke budget."""
    directory, run = batches["smoke"]
    course.finish(run)
    return directory


@pytest.fixture(scope="session")
def attacked(batches):
    """The attack course, autograded, with feedback; and what the attacks could reach."""
    directory, run, listener, before = batches["attack"]
    log = course.finish(run)
    course.generate_feedback(directory)
    try:
        listener.accept()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return {"dir": directory, "before": before, "reached": reached, "log": log}


def graded_cells(notebook):
    """grade_id -> points for every autograded test cell of a notebook."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"]
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}

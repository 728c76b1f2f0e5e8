"""Shared fixtures: a throwaway course folder graded by the real nbgrader.

Tests never touch the repository's own gradebook or autograded/: each session copies the
course into a temporary folder. Most pipeline tests use the small ``smoke`` budget;
test_grading_budget.py runs the real grading budget once.
"""

import os
from pathlib import Path

import pytest

from cnnkit import course, data, mutations, submissions, variants

ROOT = Path(__file__).resolve().parent.parent
SOURCE, RELEASE = submissions.source_and_release(ROOT)


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


@pytest.fixture(scope="session")
def smoke_course(tmp_path_factory, cifar_dir):
    """A course folder with every fixture submission autograded under the smoke budget."""
    directory = make_course(tmp_path_factory, "smoke_course")
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    submissions.write(submissions.read(RELEASE), directory, "untouched")
    for change in variants.CI_VARIANTS + mutations.CI_MUTANTS:
        submissions.write(submissions.apply(reference, change), directory, change.name)
    course.autograde(directory, CNNKIT_BUDGET="smoke")
    return directory


def graded_cells(notebook):
    """grade_id -> points for every autograded test cell of a notebook."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"]
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}

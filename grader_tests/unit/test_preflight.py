"""The pre-flight check: the kernel's sandbox must import the cnnkit the grader bound and find
the lesson's packages, else the submission is a grader error (never the student's zero)."""

import shutil
from pathlib import Path

import nbformat
import pytest

from cnnkit_grader.boundary import preflight, sandbox
from cnnkit_tools import submissions

ROOT = Path(__file__).resolve().parents[2]
SOURCE, RELEASE = submissions.source_and_release(ROOT)


@pytest.fixture
def scratch():
    with sandbox.scratch_folder() as (folder, _):
        (folder / "compile_and_train.ipynb").write_text("{}")
        yield folder


def _check(scratch, modules=("keras", "numpy")):
    with sandbox.slot() as slot:
        sandbox.give(scratch, slot, include_root=False)
        preflight.check(slot, scratch, preflight.kernel_python("python3"), modules)


def test_the_lesson_setup_cells_are_found_and_their_packages_named():
    nb = submissions.read(RELEASE)
    setup = preflight.setup_cells(nb)
    assert [nb.cells[i].metadata.nbgrader["grade_id"] for i in setup] == ["setup", "data"]
    assert preflight.imported(nb.cells[i].source for i in setup) == [
        "keras", "math", "matplotlib", "numpy", "os", "pandas", "seaborn"]


def test_a_setup_cell_after_student_code_is_not_the_graders():
    nb = submissions.read(RELEASE)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys"))  # a cell the student added on top
    assert preflight.setup_cells(nb) == []


def test_the_kernel_imports_the_bound_copy_whatever_the_environment_points_at(scratch):
    # The environment's editable install points at this clone; the sandbox sees the grader's copy
    # at sandbox.KIT_MOUNT, first on its path.
    _check(scratch)


def test_an_empty_folder_bound_as_cnnkit_is_a_grader_error(scratch, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(sandbox, "kit_package", lambda: tmp_path / "empty")
    with pytest.raises(preflight.KitNotBound, match="grader error, not the student's: .*kernel imports "
                       "cnnkit from None, not from the copy the grader bound at /opt/cnnkit-kit"):
        _check(scratch)


def test_another_copy_of_the_kit_bound_is_a_grader_error(scratch, tmp_path, monkeypatch):
    other = tmp_path / "cnnkit"
    shutil.copytree(ROOT / "cnnkit", other, ignore=shutil.ignore_patterns("__pycache__"))
    (other / "budget.py").write_text((other / "budget.py").read_text() + "\n# another clone\n")
    monkeypatch.setattr(sandbox, "kit_package", lambda: other)
    with pytest.raises(preflight.KitNotBound, match="not the code the grader imported"):
        _check(scratch)


def test_a_missing_lesson_package_is_a_grader_error(scratch):
    with pytest.raises(preflight.KitNotBound, match="the lesson's package no_such_lesson_package cannot be imported"):
        _check(scratch, modules=("keras", "no_such_lesson_package"))

"""The untouched release is recognised from its code cells alone, compared with the course's release.

The graded notebook is what nbgrader hands ``GuardedExecute``: the submission after
``OverwriteCells`` restored the test cells from the source, hidden tests included."""

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from cnnkit_grader.boundary import untouched
from cnnkit_grader.judge import tasks
from cnnkit_tools import submissions

ROOT = Path(__file__).resolve().parents[2]
SOURCE, RELEASE = submissions.source_and_release(ROOT)


def graded(nb):
    """nb as nbgrader grades it: every test cell's source the source notebook's, hidden tests and all."""
    tests = {tasks.grade_id(c): c.source for c in submissions.read(SOURCE).cells if tasks.is_test(c)}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if tasks.is_test(cell):
            cell.source = tests[tasks.grade_id(cell)]
    return nb


@pytest.fixture
def release():
    return submissions.read(RELEASE)


def answer_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def test_the_release_as_nbgrader_grades_it_is_untouched(release):
    nb = graded(release)
    assert "BEGIN HIDDEN TESTS" in "".join(c.source for c in nb.cells)
    assert untouched.same_code(nb, release)
    assert untouched.is_untouched(nb, RELEASE.parent, RELEASE)


def test_markdown_and_metadata_do_not_count(release):
    """Prose (a written answer) and metadata decide nothing: only code cells run."""
    nb = graded(release)
    nb.cells.append(nbformat.v4.new_markdown_cell("My notes"))
    next(c for c in nb.cells if c.cell_type == "markdown").source += " edited"
    for cell in nb.cells:
        cell.metadata.setdefault("nbgrader", {})["checksum"] = "forged"
    assert untouched.same_code(nb, release)


def _edit_one_character(nb):
    cell = answer_cells(nb)[0]
    cell.source = cell.source.replace("raise NotImplementedError()", "raise NotImplementedError( )")


def _add_code_cell(nb):
    nb.cells.insert(5, new_code_cell("import pandas"))


def _remove_code_cell(nb):
    nb.cells.remove(next(c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader")))


def _reorder(nb):
    first, second = [nb.cells.index(c) for c in answer_cells(nb)[:2]]
    nb.cells[first], nb.cells[second] = nb.cells[second], nb.cells[first]


def _markdown_to_code(nb):
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    nb.cells[index] = new_code_cell(nb.cells[index].source, metadata=nb.cells[index].metadata)


def _forged_metadata(nb):
    """An edited answer whose metadata and checksum are copied from the release, as a student could."""
    released = {tasks.grade_id(c): c.metadata for c in submissions.read(RELEASE).cells}
    cell = answer_cells(nb)[0]
    cell.source = "def build_model(dropout_rate=None):\n    return None\n"
    cell.metadata = copy.deepcopy(released[tasks.grade_id(cell)])
    nb.metadata = copy.deepcopy(submissions.read(RELEASE).metadata)


@pytest.mark.parametrize("change", [_edit_one_character, _add_code_cell, _remove_code_cell, _reorder,
                                    _markdown_to_code, _forged_metadata], ids=lambda f: f.__name__[1:])
def test_any_change_to_the_code_is_graded_in_full(release, change):
    nb = graded(release)
    change(nb)
    assert not untouched.same_code(nb, release)
    assert not untouched.is_untouched(nb, RELEASE.parent, RELEASE)


def test_a_file_the_kernel_would_import_means_full_grading(release, tmp_path):
    """A pandas.py beside the notebook would run in the kernel: the outcome is not known in advance."""
    nb = graded(release)
    (tmp_path / RELEASE.name).write_text(RELEASE.read_text())
    for name in ("timestamp.txt", "model.keras"):   # nbgrader's own record; never given to the kernel
        (tmp_path / name).write_text("")
    assert untouched.is_untouched(nb, tmp_path, RELEASE)
    (tmp_path / "pandas.py").write_text("")
    assert not untouched.is_untouched(nb, tmp_path, RELEASE)


def test_a_file_of_the_release_must_be_the_releases_byte_for_byte(release, tmp_path):
    released, submitted = tmp_path / "release", tmp_path / "submitted"
    released.mkdir(), submitted.mkdir()
    (released / RELEASE.name).write_text(RELEASE.read_text())
    (released / "helpers.py").write_text("SCALE = 255\n")
    (submitted / "helpers.py").write_text("SCALE = 255\n")
    assert untouched.is_untouched(graded(release), submitted, released / RELEASE.name)
    (submitted / "helpers.py").write_text("import builtins\n")
    assert not untouched.is_untouched(graded(release), submitted, released / RELEASE.name)


def test_a_release_that_cannot_be_read_means_full_grading(release, tmp_path):
    (tmp_path / RELEASE.name).write_text("not a notebook")
    assert not untouched.is_untouched(graded(release), tmp_path, tmp_path / RELEASE.name)
    assert not untouched.is_untouched(graded(release), tmp_path, tmp_path / "missing.ipynb")


def test_every_test_cell_of_the_untouched_release_scores_0_and_says_what_to_do():
    verdict = tasks.untouched("test_build_form")
    assert not verdict.passed and verdict.failure == "any.untouched"
    assert "still exactly as released" in verdict.message and "Fill in the answer cells" in verdict.message

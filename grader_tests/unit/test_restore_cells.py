"""A notebook whose graded cells were edited or cut cannot crash nbgrader's restore step.

nbgrader 0.9.6's OverwriteCells stops the whole autograde on two edits a student can make:
a test cell's ``grade`` flag switched off ("Inconsistent checksums"), and an answer cut out
together with its test cell (KeyError). The submission then ends as a grader error, with no
feedback, as often as the student likes. The kit's ``RestoreCells`` puts the course's cells
back instead. Against a real gradebook made by ``nbgrader generate_assignment``, with the
course's ``add_missing_cells``."""

import copy

import pytest
from nbgrader import utils
from nbgrader.preprocessors import OverwriteCells

from cnnkit_grader.boundary.intake import RestoreCells
from cnnkit_grader.judge.tasks import grade_id
from cnnkit_tools import course, submissions


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = course.copy_course(tmp_path_factory.mktemp("restore") / "course")
    course.generate_release(directory)
    reference = submissions.reference(*submissions.source_and_release(directory))
    resources = {"nbgrader": {"notebook": submissions.NOTEBOOK.removesuffix(".ipynb"),
                              "assignment": submissions.ASSIGNMENT, "db_url": course.db_url(directory)}}
    return reference, resources


def ids(nb):
    return [grade_id(c) for c in nb.cells]


def graded(nb):
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells if utils.is_grade(c)}


def flag_switched_off(reference):
    nb = copy.deepcopy(reference)
    cell = nb.cells[ids(nb).index("test_build_form")]
    cell.metadata.nbgrader["grade"] = False
    cell.source = "pass  # nothing to check"
    return nb


def answer_and_test_cut(reference):
    nb = copy.deepcopy(reference)
    nb.cells = [c for c in nb.cells if grade_id(c)
                not in ("build_model", "test_build_form", "test_build_structure")]
    return nb


@pytest.mark.parametrize("edit", [flag_switched_off, answer_and_test_cut])
def test_nbgraders_own_step_stops_on_the_edit(world, edit):
    reference, resources = world
    with pytest.raises((RuntimeError, KeyError)):
        OverwriteCells(add_missing_cells=True).preprocess(edit(reference), copy.deepcopy(resources))


@pytest.mark.parametrize("edit", [flag_switched_off, answer_and_test_cut])
def test_the_course_cells_come_back_in_place(world, edit):
    reference, resources = world
    nb, _ = RestoreCells(add_missing_cells=True).preprocess(edit(reference), copy.deepcopy(resources))
    assert graded(nb) == graded(reference)  # every graded cell, with its points
    restored = nb.cells[ids(nb).index("test_build_form")]
    # nbgrader's own note heads a cell it put back; the test below it is the course's
    assert restored.source.endswith(reference.cells[ids(reference).index("test_build_form")].source)
    order = [i for i in ids(reference) if i in graded(reference)]
    assert [i for i in ids(nb) if i in graded(reference)] == order  # in the source's order

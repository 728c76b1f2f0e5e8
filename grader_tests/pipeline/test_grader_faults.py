"""Grader faults are never the student's mistake (issue 14, C).

A fault of the grading environment (a kit the kernel cannot import, a lesson package or data
that is missing) must stop the submission's grading as a grader error, with the reason in
nbgrader's log and no grade recorded, instead of charging every cell after the setup to the
student. Each test grades with the real ``nbgrader autograde``.
"""

import shutil
from pathlib import Path

from cnnkit_tools import course, submissions

from courses import CELLS, ROOT, SMOKE, make_course, touched_release

REASON = "grader error, not the student's"
# A loaded machine can take minutes to import TensorFlow in the setup cell; these tests are not
# about time limits (a setup cell that times out is a grader error too).
PATIENT = {**SMOKE, "CNNKIT_CELL_TIMEOUT": "900", "CNNKIT_NOTEBOOK_TIMEOUT": "2400"}


def _no_grade(directory, student):
    """Nothing of this student's grading was kept: no autograded notebook, no cell scored."""
    from nbgrader.api import Gradebook, MissingEntry

    assert not course.autograded_notebook(directory, student).exists()
    with Gradebook(course.db_url(directory)) as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(submissions.NOTEBOOK[:-len(".ipynb")],
                                                          submissions.ASSIGNMENT, student)
        except MissingEntry:
            return
        scored = {g.name: g.auto_score for g in notebook.grades if g.auto_score is not None}
    assert not scored, f"cells were scored although grading failed: {scored}"


def test_a_course_folder_with_its_own_copy_of_the_kit_grades_correctly(tmp_path_factory):
    import cnnkit

    directory = make_course(tmp_path_factory, "own_kit")
    shutil.copytree(ROOT / "cnnkit", directory / "cnnkit", ignore=shutil.ignore_patterns("__pycache__"))
    # The environment's cnnkit (an editable install of this clone) is not the course's copy.
    assert Path(cnnkit.__file__).resolve().parent != (directory / "cnnkit").resolve()
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    course.autograde(directory, "reference", **PATIENT)
    assert course.scores(directory, "reference") == {g: (p, p) for g, p in CELLS.items()}


def test_a_sandbox_without_the_kit_is_a_grader_error_not_a_zero(tmp_path_factory):
    directory = make_course(tmp_path_factory, "empty_kit")
    (directory / "empty" / "cnnkit").mkdir(parents=True)
    with open(directory / "nbgrader_config.py", "a") as config:  # the grader binds an empty folder as cnnkit
        config.write(f"\nimport pathlib\nfrom cnnkit_grader.boundary import sandbox as _sandbox\n"
                     f"_sandbox.kit_package = lambda: pathlib.Path({str(directory / 'empty' / 'cnnkit')!r})\n")
    submissions.write(submissions.reference(*submissions.source_and_release(directory)), directory, "someone")
    run = course.nbgrader(directory, "autograde", submissions.ASSIGNMENT, check=False, **PATIENT)
    assert run.returncode != 0
    assert f"{REASON}: before the notebook ran, the kernel's sandbox could not import" in run.stdout
    assert "the kernel imports cnnkit from None, not from the copy the grader bound" in run.stdout
    _no_grade(directory, "someone")


def test_missing_training_data_is_a_grader_error_not_a_zero(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "no_data")
    partial = directory.parent / "cifar-partial" / "cifar-10-batches-py"
    partial.mkdir(parents=True)
    for path in (Path(cifar_dir) / "cifar-10-batches-py").iterdir():
        if path.name != "data_batch_5":  # the grader's data lost one training batch
            (partial / path.name).symlink_to(path)
    submissions.write(touched_release(), directory, "someone")  # the untouched release runs nothing
    run = course.nbgrader(directory, "autograde", submissions.ASSIGNMENT, check=False,
                          CIFAR10_DIR=str(partial.parent), **PATIENT)
    assert run.returncode != 0
    assert "DataError: missing CIFAR-10 file" in run.stdout and "data_batch_5" in run.stdout
    _no_grade(directory, "someone")


def test_a_setup_cell_that_fails_before_student_code_is_a_grader_error_not_a_zero(tmp_path_factory):
    directory = make_course(tmp_path_factory, "setup_fails")
    submissions.write(submissions.reference(*submissions.source_and_release(directory)), directory, "someone")
    # A time limit no setup cell can meet (importing TensorFlow takes seconds): the grader's
    # settings are at fault, and no code of the student's has run yet.
    run = course.nbgrader(directory, "autograde", submissions.ASSIGNMENT, check=False,
                          **{**SMOKE, "CNNKIT_CELL_TIMEOUT": "1"})
    assert run.returncode != 0
    assert f"{REASON}: the instructor's locked setup cell 'setup' failed before any of the student's " \
           "code ran (" in run.stdout
    _no_grade(directory, "someone")

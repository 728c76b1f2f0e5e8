"""Attacks on the grader and faults during grading, each graded by the real pipeline.

Every submission in ``cnnkit.attacks`` is autograded in one ``nbgrader autograde`` run under
the smoke budget (conftest.batches), with a 60 s cell timeout so the loop that ignores
interrupts is stopped quickly. Each must score what honest work with the same mistakes
earns, and its notebook must say what happened.
"""

import json
import os

import pytest

from cnnkit_tools import attacks, course, submissions

from conftest import LAMBDA_MARK, RELEASE, digests, graded_cells, make_course

CELLS = graded_cells(submissions.read(RELEASE))


def _notebook_text(directory, student):
    return json.dumps(submissions.read(course.autograded_notebook(directory, student)))


def _outputs_text(directory, student):
    """Everything the cells printed or raised, without the student's source code."""
    cells = submissions.read(course.autograded_notebook(directory, student)).cells
    return json.dumps([cell.get("outputs", []) for cell in cells])


@pytest.mark.parametrize("attack", attacks.ATTACKS, ids=lambda a: a.name)
def test_attack_scores_what_honest_work_earns(attacked, attack):
    got = course.scores(attacked["dir"], attack.name)
    lost = CELLS if "ALL" in attack.fails else attack.fails
    assert got == {g: (0.0 if g in lost else p, p) for g, p in CELLS.items()}, attack.what
    assert attack.says in _notebook_text(attacked["dir"], attack.name)


def test_sandbox_blocks_every_escape(attacked):
    text = _outputs_text(attacked["dir"], "escape")
    for what in ("read the hidden tests", "read the gradebook", "write the gradebook",
                 "read another student", "read the held-out images", "write outside its folder",
                 "reach the network"):
        assert f"blocked: {what}" in text
    assert "ESCAPED" not in text
    assert "NBGRADER_EXECUTION: None" in text
    assert not (attacked["dir"] / "pwned.txt").exists()
    assert not attacked["reached"]


def test_lambda_in_a_saved_model_never_runs(attacked):
    assert not LAMBDA_MARK.exists()


def test_floods_are_cut_and_big_files_left_out(attacked):
    notebook = course.autograded_notebook(attacked["dir"], "noise")
    assert notebook.stat().st_size < 2_000_000
    assert "Not given to your notebook: big_data.bin (60 MB)" in _notebook_text(attacked["dir"], "noise")


def test_submitted_files_are_never_modified(attacked):
    assert digests(attacked["dir"] / "submitted") == attacked["before"]


def test_grading_twice_gives_the_same_result(attacked):
    first = course.scores(attacked["dir"], "segfault")
    course.autograde(attacked["dir"], "segfault", CNNKIT_BUDGET="smoke", CNNKIT_CELL_TIMEOUT=60)
    assert course.scores(attacked["dir"], "segfault") == first


def test_feedback_shows_names_points_and_messages_not_test_code(attacked, cifar_dir):
    html = course.feedback_html(attacked["dir"], "fake_modules").read_text()
    assert "The optimizer is Adam (hidden test)" in html          # the test's name
    assert "the SGD optimizer" in html                            # its message
    assert "The test code is not shown" in html
    for secret in ("from cnnkit.checks import", "check_optimizer(", "BEGIN HIDDEN TESTS",
                   "heldout_threshold", str(cifar_dir),
                   str(attacked["dir"])):
        assert secret not in html


def test_grading_refuses_to_run_without_isolation(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "no_sandbox_user")
    submissions.write(submissions.read(RELEASE), directory, "someone")
    env = {"CNNKIT_BUDGET": "smoke"}
    if os.geteuid() == 0:
        env["CNNKIT_SANDBOX_USER"] = "no-such-user"
    else:
        env["PATH"] = "/nonexistent"  # no bwrap to be found
    run = course.nbgrader(directory, "autograde", submissions.ASSIGNMENT, check=False, **env)
    assert run.returncode != 0
    assert "does not exist" in run.stdout or "bubblewrap" in run.stdout
    assert not course.autograded_notebook(directory, "someone").exists()


def test_unprotected_grading_says_so(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "sandbox_off")
    submissions.write(submissions.read(RELEASE), directory, "someone")
    course.autograde(directory, CNNKIT_BUDGET="smoke", CNNKIT_SANDBOX="off")
    assert "WITHOUT isolation" in _notebook_text(directory, "someone")

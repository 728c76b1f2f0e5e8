"""Attacks on the grader and faults during grading, each graded by the real pipeline.

Every submission in ``cnnkit_tools.lab.attacks`` is autograded under the smoke budget (conftest.batches),
with a 150 s cell timeout, so the loop that ignores interrupts is stopped within minutes while a
loaded machine still runs every honest cell in time. Each must score
what honest work with the same mistakes earns, and its outputs or notes must say what happened.
"""

import json
import os
import re

import pytest

from cnnkit_grader.boundary import sandbox
from cnnkit_grader.judge import tasks
from cnnkit_tools import course, submissions
from cnnkit_tools.lab import attacks

from courses import CELLS, SIDE_BY_SIDE, SMOKE, autograded, digests, make_course, shown, touched_release, verdicts
from helpers import active_content


def home(attacked, student):
    """The attack course folder that graded ``student`` (the attacks are split over two)."""
    return attacked["where"][student]


def _expected(attack):
    lost = CELLS if "ALL" in attack.fails else attack.fails
    return {g: (0.0 if g in lost else p, p) for g, p in CELLS.items()}


@pytest.mark.parametrize("attack", [a for a in attacks.ATTACKS if not a.alone], ids=lambda a: a.name)
def test_attack_scores_what_honest_work_earns(attacked, attack):
    assert course.scores(home(attacked, attack.name), attack.name) == _expected(attack), attack.what
    text = shown(home(attacked, attack.name), attack.name)
    assert any(phrase in text for phrase in attack.says.split("|")), (attack.says, attack.what)


def test_a_hook_that_stalls_every_cell_is_stopped_by_the_notebooks_budget(stalled):
    attack = attacks.by_name("stalling_hook")
    assert course.scores(stalled, attack.name) == _expected(attack)
    meta = autograded(stalled, attack.name).metadata["cnnkit"]
    assert meta["outcome"] == "fault" and meta["fault"]["kind"] == "notebook_budget"
    assert meta["not_run"] == ["test_save_form", "test_save_best"]
    # The notebook's run (from the kernel's start to the probe's collection) stops at the 400 s
    # budget, give or take interrupting and stopping the kernel. The probe and the measurement
    # after it have limits of their own, and on a loaded machine their time says nothing here.
    start = {p["phase"]: p["start"] for p in meta["phases"]}
    assert 380 < start["probe"] - start["kernel start"] < 400 + 60, meta["phases"]


def test_absolute_paths_reach_nothing(attacked):
    text = shown(home(attacked, "escape"), "escape")
    for what in ("read the hidden tests", "read the gradebook", "write the gradebook",
                 "read another student", "read the held-out images", "write outside its folder",
                 "reach the network"):
        assert f"blocked: {what}" in text
    assert "ESCAPED" not in text
    assert "NBGRADER_EXECUTION: None" in text
    assert not any((directory / "pwned.txt").exists() for directory in attacked["before"])
    assert not attacked["reached"]


def test_relative_paths_reach_nothing_and_the_folder_holds_only_the_submission(attacked):
    text = shown(home(attacked, "relative_escape"), "relative_escape")
    assert "ESCAPED" not in text
    assert re.search(r"listing \.: \[.*'compile_and_train\.ipynb'.*\]", text)
    listing = re.search(r"listing \.: (\[.*?\])", text).group(1)
    assert "source" not in listing and "gradebook" not in listing and "submitted" not in listing


def test_links_in_a_submission_are_never_followed(attacked):
    student = home(attacked, "links") / "autograded" / "links" / "compile_and_train"
    feedback = home(attacked, "links") / "feedback" / "links" / "compile_and_train"
    for name in list(attacks.LINKS) + ["pipe"]:
        assert not os.path.lexists(student / name) and not os.path.lexists(feedback / name)
    text = shown(home(attacked, "links"), "links")
    for name in list(attacks.LINKS) + ["pipe"]:
        assert f"blocked: {name}" in text
    assert "ESCAPED" not in text


def test_forged_answers_and_replaced_collectors_gain_nothing(attacked):
    forged = verdicts(home(attacked, "forged_answers"), "forged_answers")
    assert forged["test_tuning_best"]["rule"] in ("tuning_best.not_lowest", "tuning_best.val_loss_mismatch")
    replaced = verdicts(home(attacked, "replaced_collector"), "replaced_collector")
    assert replaced["test_dropout_form"]["message"] == "model_dropout could not be saved for grading."


def test_no_active_content_reaches_the_instructor_or_the_student(attacked):
    from nbconvert import HTMLExporter

    html = course.feedback_html(home(attacked, "active_content"), "active_content").read_text()
    assert active_content(html) == []
    assert "cnnkit-xss-note" in html  # the markup-named file is in the notes, as text
    nb = autograded(home(attacked, "active_content"), "active_content")
    assert active_content(HTMLExporter().from_notebook_node(nb)[0]) == []   # as the formgrader renders it
    kinds = {key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})}
    assert not kinds & {"application/javascript", "image/svg+xml", "text/html", "text/markdown"}
    answer = next(c for c in nb.cells if tasks.grade_id(c) == "answer_training_curve")
    assert "<script>" not in answer.source and "&lt;script&gt;" in answer.source


def test_tmpfs_and_the_working_folder_are_sized(attacked):
    text = shown(home(attacked, "fill_tmp"), "fill_tmp")
    filled = {folder: int(mb) for folder, mb in re.findall(r"filled (\S+) with (\d+) MB", text)}
    assert filled["/tmp"] <= sandbox.TMP_BYTES // 2**20
    assert filled["/dev/shm"] <= sandbox.SHM_BYTES // 2**20
    if os.geteuid() == 0:  # the working folder is a tmpfs of its own only when grading as root
        assert filled["."] <= sandbox.SCRATCH_BYTES // 2**20


@pytest.mark.skipif(os.geteuid() != 0, reason="a process limit per submission needs a slot user (root)")
def test_a_fork_bomb_stops_at_its_own_limit_while_another_submission_grades(attacked, smoke_course):
    forks = int(re.search(r"forks stopped at (\d+)", shown(home(attacked, "fork_bomb"), "fork_bomb")).group(1))
    assert forks < sandbox.PROCESS_LIMIT
    assert course.scores(smoke_course, "reference") == {g: (p, p) for g, p in CELLS.items()}


def test_copy_back_is_capped_in_number_and_size(attacked):
    folder = home(attacked, "sparse_copy_back") / "autograded" / "sparse_copy_back" / "compile_and_train"
    models = sorted(p.name for p in folder.iterdir() if p.suffix == ".keras")
    assert "huge.keras" not in models and len(models) == 10
    assert {"cifar_model.keras", "cifar_model_dropout.keras"} <= set(models)
    assert sum(p.stat().st_blocks * 512 for p in folder.iterdir()) < 60 * 2**20


def test_a_lambda_layer_is_refused_unloaded(attacked):
    verdict = verdicts(home(attacked, "lambda_layer"), "lambda_layer")["test_save_best"]
    assert verdict["rule"] == "any.model_unsafe" and "Lambda object" in verdict["message"]


def test_faults_are_recorded_with_the_parts_kept(attacked, smoke_course):
    expected = {"exit": ("fault", "kernel_died"), "segfault": ("fault", "kernel_died"),
                "ignores_interrupt": ("fault", "cell_timeout"), "big_message": ("fault", "output_lost"),
                "out_of_memory": ("graded", None),
                "corrupt_notebook": ("unreadable", None)}
    graded = {student: (home(attacked, student), student) for student in expected}
    graded["reference"], expected["reference"] = (smoke_course, "reference"), ("graded", None)
    for student, (outcome, kind) in expected.items():
        meta = autograded(*graded[student]).metadata["cnnkit"]
        assert meta["outcome"] == outcome, student
        assert (meta["fault"] or {}).get("kind") == kind, student
    assert autograded(home(attacked, "exit"), "exit").metadata["cnnkit"]["not_run"] == ["test_save_form", "test_save_best"]
    # graded as the blank assignment, which runs nothing; each cell says why, not "still as released"
    corrupt = verdicts(home(attacked, "corrupt_notebook"), "corrupt_notebook")
    assert {(v["rule"], v["message"]) for v in corrupt.values()} == {("any.untouched", tasks.UNREADABLE)}


def test_every_phase_has_a_timestamp(smoke_course):
    phases = [p["phase"] for p in autograded(smoke_course, "reference").metadata["cnnkit"]["phases"]]
    for name in ("prepare", "kernel start", "setup", "part A", "part G", "part I", "handover", "probe",
                 "measure", "judge", "write grades"):
        assert name in phases


def test_floods_are_cut_and_big_files_left_out(attacked):
    notebook = course.autograded_notebook(home(attacked, "noise"), "noise")
    assert notebook.stat().st_size < 2_000_000
    assert "Not given to your notebook: big_data.bin (60 MB; at most 50 MB)" in shown(home(attacked, "noise"), "noise")


def test_submitted_files_are_never_modified(attacked):
    for directory, before in attacked["before"].items():
        assert digests(directory / "submitted") == before


def test_grading_twice_gives_the_same_result(attacked):
    first = course.scores(home(attacked, "segfault"), "segfault")
    course.autograde(home(attacked, "segfault"), "segfault", **SMOKE, **SIDE_BY_SIDE)  # as the batch did
    assert course.scores(home(attacked, "segfault"), "segfault") == first


def test_feedback_shows_names_points_and_messages_not_test_code(attacked, cifar_dir):
    html = course.feedback_html(home(attacked, "patched_keras"), "patched_keras").read_text()
    assert "build_model() has the lesson&#x27;s layers and 87,060 parameters (hidden test)" in html \
        or "build_model() has the lesson's layers and 87,060 parameters (hidden test)" in html
    assert "layer 1 should be Conv2D(50" in html
    assert "The test code is not shown" in html
    for secret in ("cnnkit_grader", "selfcheck", "BEGIN HIDDEN TESTS", "heldout_threshold", str(cifar_dir),
                   str(home(attacked, "patched_keras"))):
        assert secret not in html


def test_grading_refuses_to_run_without_isolation(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "no_sandbox_user")
    submissions.write(touched_release(), directory, "someone")  # the untouched release runs nothing
    env = {"CNNKIT_BUDGET": "smoke"}
    if os.geteuid() == 0:
        env["CNNKIT_SANDBOX_USERS"] = "no-such-user"
    else:
        env["PATH"] = "/nonexistent"  # no bwrap to be found
    run = course.nbgrader(directory, "autograde", submissions.ASSIGNMENT, check=False, **env)
    assert run.returncode != 0
    assert "does not exist" in run.stdout or "bubblewrap" in run.stdout
    assert not course.autograded_notebook(directory, "someone").exists()


def test_unprotected_grading_says_so(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "sandbox_off")
    submissions.write(touched_release(), directory, "someone")  # the untouched release runs nothing
    course.autograde(directory, CNNKIT_BUDGET="smoke", CNNKIT_SANDBOX="off")
    assert "WITHOUT isolation" in json.dumps(autograded(directory, "someone").metadata["cnnkit"]["notes"])

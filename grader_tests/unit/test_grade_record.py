"""The single writer and the outcome table, without running any notebook.

A small gradebook is built with nbgrader's own API (one notebook, a code test cell and a
written answer cell), and task results shaped as the worker returns them are recorded.
"""

import json
import shutil
import stat

import pytest
from nbgrader.api import Gradebook

from cnnkit_tools.grade import batch, files, job, outcome as outcomes, record

ASSIGNMENT, NOTEBOOK = "hw", "hw"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The gradebook, made once: nbgrader stamps a new one by running alembic (seconds)."""
    path = tmp_path_factory.mktemp("template") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.update_or_create_notebook(NOTEBOOK, ASSIGNMENT)
        gb.update_or_create_grade_cell("test_a", NOTEBOOK, ASSIGNMENT, max_score=3, cell_type="code")
        gb.update_or_create_grade_cell("answer", NOTEBOOK, ASSIGNMENT, max_score=2, cell_type="markdown")
        gb.update_or_create_solution_cell("answer", NOTEBOOK, ASSIGNMENT)
        gb.update_or_create_solution_cell("code_a", NOTEBOOK, ASSIGNMENT)
    return path


@pytest.fixture
def course(tmp_path, template):
    shutil.copy(template, tmp_path / "gradebook.db")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    bind = outcomes.engine(url)
    yield tmp_path, url, bind
    bind.dispose()


def notebook_bytes(meta=None):
    return json.dumps({"cells": [], "metadata": {"cnnkit": meta} if meta else {},
                       "nbformat": 4, "nbformat_minor": 5}).encode()


def result(student="ada", score=3.0, meta=None, error=None, late=None, timestamp="2026-11-20T10:00:00"):
    grades = {"timestamp": timestamp, "notebooks": {NOTEBOOK: {
        "late_submission_penalty": late,
        "grades": {"test_a": {"auto_score": score, "max_score": 3.0, "needs_manual_grade": False,
                              "cell_type": "code"},
                   "answer": {"auto_score": None, "max_score": 2.0, "needs_manual_grade": True,
                              "cell_type": "markdown"}},
        "comments": {"answer": {"auto_comment": None}, "code_a": {"auto_comment": "No response."}}}}}
    autograded = None if error else {f"{NOTEBOOK}.ipynb": (0o444, notebook_bytes(meta)),
                                     "timestamp.txt": (0o444, b"2026-11-20 10:00:00.000000 UTC")}
    return {"assignment": ASSIGNMENT, "student": student, "submitted_at": "2026-11-20T10:00:00+00:00",
            "autograded": autograded, "grades": None if error and error[0] == "worker_died" else grades,
            "metadata": {NOTEBOOK: meta} if not error else {}, "error": error, "worker": "tcp://w:1",
            "seconds": 12.5, "timings": {"setup": 0.1, "nbgrader": 12.0, "collect": 0.4}, "log": ""}


def test_recorded_grades_are_what_the_task_saved(course):
    folder, url, bind = course
    row = record.record(folder, url, bind, result(score=3.0, late=1.0))
    with Gradebook(url) as gb:
        submission = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "ada")
        grades = {g.name: (g.auto_score, g.needs_manual_grade) for g in submission.grades}
        comments = {c.name: c.auto_comment for c in submission.comments}
        assert grades == {"test_a": (3.0, False), "answer": (None, True)}
        assert comments == {"answer": None, "code_a": "No response."}
        assert submission.late_submission_penalty == 1.0
        assert gb.find_submission(ASSIGNMENT, "ada").timestamp.isoformat() == "2026-11-20T10:00:00"
    written = folder / "autograded" / "ada" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert stat.S_IMODE(written.stat().st_mode) == 0o444  # read-only, as nbgrader leaves it
    assert row.outcome == "graded" and row.attempts == 1 and row.worker == "tcp://w:1"
    [stored] = outcomes.read(bind, ASSIGNMENT)
    assert stored.outcome == "graded" and stored.seconds == 12.5
    assert [p["phase"] for p in stored.phases] == ["task_setup", "task_collect", "record"]


def test_regrading_keeps_a_manual_score_flagged_for_review(course):
    folder, url, bind = course
    record.record(folder, url, bind, result(score=0.0))
    with Gradebook(url) as gb:
        gb.find_grade("test_a", NOTEBOOK, ASSIGNMENT, "ada").manual_score = 2.0
        gb.db.commit()
    record.record(folder, url, bind, result(score=3.0))
    with Gradebook(url) as gb:
        grade = gb.find_grade("test_a", NOTEBOOK, ASSIGNMENT, "ada")
        assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (3.0, 2.0, True)
    assert len(outcomes.read(bind, ASSIGNMENT)) == 1  # one row per submission, replaced


def test_fault_metadata_becomes_the_outcome(course):
    folder, url, bind = course
    meta = {"outcome": "fault", "fault": {"kind": "cell_timeout", "message": "Part E ran too long",
                                          "cell": "test_train"},
            "not_run": ["test_b", "test_c"], "phases": [{"phase": "part A", "start": 0, "seconds": 2.0}]}
    row = record.record(folder, url, bind, result(score=0.0, meta=meta))
    assert (row.outcome, row.fault_kind, row.detail) == ("fault", "cell_timeout", "Part E ran too long")
    assert row.not_run == ["test_b", "test_c"]
    assert row.phases[0] == {"phase": "part A", "start": 0, "seconds": 2.0}


def test_unreadable_metadata_keeps_the_note(course):
    folder, url, bind = course
    meta = {"outcome": "unreadable", "fault": None, "notes": ["could not be read (not JSON)"]}
    row = record.record(folder, url, bind, result(student="bo", score=0.0, meta=meta))
    assert (row.outcome, row.detail) == ("unreadable", "could not be read (not JSON)")


def test_a_worker_death_keeps_the_earlier_grading(course):
    folder, url, bind = course
    record.record(folder, url, bind, result(score=3.0))
    died = result(error=("worker_died", "the worker died while grading, twice"))
    row = record.record(folder, url, bind, died, attempts=2)
    assert (row.outcome, row.fault_kind, row.attempts) == ("grader_error", "worker_died", 2)
    assert (folder / "autograded" / "ada" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").exists()
    with Gradebook(url) as gb:
        assert gb.find_grade("test_a", NOTEBOOK, ASSIGNMENT, "ada").auto_score == 3.0


def test_nbgrader_failure_mirrors_serial_nbgrader(course):
    folder, url, bind = course
    record.record(folder, url, bind, result(score=3.0))
    failed = result(score=0.0, error=("nbgrader_failed", "Traceback ..."))
    row = record.record(folder, url, bind, failed)
    assert (row.outcome, row.fault_kind) == ("grader_error", "nbgrader_failed")
    assert not (folder / "autograded" / "ada" / ASSIGNMENT).exists()  # serial nbgrader removes it


def test_outcome_rejects_unknown_outcomes():
    with pytest.raises(ValueError):
        outcomes.Outcome("hw", "ada", "mostly_fine")


def test_summary_counts_outcomes_and_averages_phases():
    rows = [outcomes.Outcome("hw", "a", "graded", phases=[{"phase": "part A", "seconds": 2.0}]),
            outcomes.Outcome("hw", "b", "fault", phases=[{"phase": "part A", "seconds": 4.0}]),
            outcomes.Outcome("hw", "c", "grader_error")]
    counts, phases = outcomes.summary(rows)
    assert counts == {"graded": 1, "fault": 1, "unreadable": 0, "grader_error": 1}
    assert phases == {"part A": 3.0}


def test_files_travel_with_their_modes_and_stay_inside(tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.ipynb").write_text("{}")
    (source / "sub" / "data.csv").write_text("1,2")
    (source / "sub" / "data.csv").chmod(0o444)
    (source / "model.keras").write_bytes(b"x")
    packed = files.pack(source, ignore=("*.keras",))
    assert set(packed) == {"a.ipynb", "sub/data.csv"} and packed["sub/data.csv"][0] == 0o444
    copy = files.unpack(packed, tmp_path / "dst")
    assert (copy / "sub" / "data.csv").read_text() == "1,2"
    files.unpack({"a.ipynb": (0o644, b"new")}, copy, replace=True)
    assert sorted(p.name for p in copy.rglob("*")) == ["a.ipynb"]
    with pytest.raises(ValueError):
        files.unpack({"../escape": (0o644, b"")}, tmp_path / "dst")
    with pytest.raises(files.TooLarge):
        files.pack(source, limit=3)


def submit(course_dir, student, stamp):
    folder = course_dir / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NOTEBOOK}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(stamp)


def test_a_rerun_skips_only_what_is_graded_since_last_submitted(course):
    folder, url, bind = course
    for student in ("ada", "bo", "cy", "di"):
        submit(folder, student, "2026-11-20 10:00:00.000000 UTC")
    record.record(folder, url, bind, result("ada"))          # graded, unchanged since
    record.record(folder, url, bind, result("bo"))           # graded, then resubmitted
    submit(folder, "bo", "2026-11-21 09:00:00.000000 UTC")
    record.record(folder, url, bind, result("cy", error=("worker_died", "twice")), attempts=2)
    submissions = job.find_submissions(folder, ASSIGNMENT)
    assert submissions["ada"].submitted_at == "2026-11-20T10:00:00+00:00"
    assert batch.to_skip(bind, folder, ASSIGNMENT, submissions) == {"ada"}
    assert list(job.find_submissions(folder, ASSIGNMENT, ["di", "ada"])) == ["ada", "di"]
    with pytest.raises(SystemExit, match="nobody"):
        job.find_submissions(folder, ASSIGNMENT, ["nobody"])


def test_grading_settings_travel_but_machine_settings_stay():
    env = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "60", "CNNKIT_SANDBOX_USERS": "x,y",
           "CNNKIT_SANDBOX": "off", "CNNKIT_THREADS": "2", "CNNKIT_GRADE_PORTS": "1-2",
           "CIFAR10_DIR": "/data", "HOME": "/root", "NBGRADER_COURSE_ID": "c1"}
    assert job.shared_environment(env) == {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "60",
                                           "NBGRADER_COURSE_ID": "c1"}

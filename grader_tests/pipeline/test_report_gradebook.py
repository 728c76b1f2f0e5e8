"""The report's statistics, from a gradebook built with nbgrader's own API, checked by hand.

The class (points in brackets; "-" = not graded yet; f never submitted; g submitted but was
not autograded):

    student  test_a[1] test_b[2] answer[2, manual] test_heldout_accuracy[1] test_hard[2]
    a            1         2          2                  1                      0
    b            1         2          1                  1                      0
    c            1 (*)     0          1                  1                      1
    d            0         0          0                  1                      1
    e            1         2          -                  1                      0

(*) autograder gave 0, the instructor overrode it with 1: nbgrader's manual-over-auto rule.
Autograded statistics use a-e; "the rest" leaves out ``answer`` (e has no grade for it).
"""

import json
import math
import os
import re
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pandas as pd
import pytest
import sqlalchemy as sa
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnkit_tools.report import build, collect

# nbgrader's add_submission trips SQLAlchemy 2's autoflush warnings; they are nbgrader's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ASSIGNMENT = "hw"
CELLS = [  # grade_id, points, kind
    ("test_a", 1, "code"), ("test_b", 2, "code"), ("answer", 2, "markdown"),
    ("test_heldout_accuracy", 1, "code"), ("test_hard", 2, "code")]
SCORES = {
    "a": [1, 2, 2, 1, 0],
    "b": [1, 2, 1, 1, 0],
    "c": [0, 0, 1, 1, 1],  # test_a overridden to 1 below
    "d": [0, 0, 0, 1, 1],
    "e": [1, 2, None, 1, 0],
}
MESSAGES = {  # (student, cell) -> what the grader said when the cell lost points
    ("c", "test_b"): "the loss is MeanSquaredError; use cross-entropy.",
    ("d", "test_b"): "Not run: the kernel ran out of memory.",
    ("d", "test_a"): "the model has 12 layers, not 7.",
    ("a", "test_hard"): "accuracy 9.8% is below 30%.",
    ("b", "test_hard"): "accuracy 10.1% is below 30%.",
    ("e", "test_hard"): "accuracy 12.0% is below 30%.",
}
HELDOUT = {"a": 0.353, "b": 0.31, "c": 0.30, "d": 0.29, "e": 0.401}


def source_notebook():
    def graded(grade_id, points, kind):
        meta = {"grade": True, "grade_id": grade_id, "points": points, "locked": kind == "code",
                "solution": kind != "code"}
        cell = new_code_cell("pass") if kind == "code" else new_markdown_cell("YOUR ANSWER HERE")
        cell.metadata["nbgrader"] = meta
        return cell
    cells = {c[0]: graded(*c) for c in CELLS}
    nb = new_notebook(cells=[
        new_markdown_cell("# Homework"),
        new_markdown_cell("## Part A: The model (3 points)"), cells["test_a"], cells["test_b"],
        new_markdown_cell("## Question: Why (2 points)"), cells["answer"],
        new_markdown_cell("## Part B: Accuracy (3 points)"), cells["test_heldout_accuracy"], cells["test_hard"]])
    return nb


def autograded_notebook(student):
    nb = source_notebook()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        message = MESSAGES.get((student, grade_id))
        if message:
            cell.outputs = [new_output("error", ename="AssertionError", evalue=message, traceback=[])]
        if grade_id == "test_heldout_accuracy" and student in HELDOUT:
            # What ScoreOutside records: the printed message, and the figures in the metadata
            # (the report reads only these; "reworded" shows it never parses the message).
            cell.outputs = [new_output("stream", name="stdout", text=(
                f"model_dropout classifies {HELDOUT[student]:.1%} of the held-out images correctly.\n"))]
            cell.metadata["cnnkit"] = {"verdict": {
                "passed": True, "rule": None, "points": 1, "message": "reworded",
                "measured": {"heldout_accuracy": HELDOUT[student], "threshold": 0.29}}}
    nb.metadata["cnnkit"] = {"outcome": "graded", "fault": None, "budget": "smoke", "threshold": 0.29}
    if student == "b":
        nb.metadata["cnnkit"].update(seconds=41.0, phases=[{"phase": "kernel_start", "start": 0, "seconds": 3.0},
                                                          {"phase": "part A", "start": 3, "seconds": 30.0}])
    return nb


def make_course(folder, students=SCORES, outcome_rows=True):
    from nbgrader.api import Gradebook

    source = folder / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(source_notebook(), str(source))
    url = f"sqlite:///{folder / 'gradebook.db'}"
    # nbgrader runs `alembic` by name when it creates a gradebook: this interpreter's first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with mock.patch.dict(os.environ, {"PATH": path}), Gradebook(url) as gradebook:
        gradebook.add_assignment(ASSIGNMENT)
        gradebook.add_notebook(ASSIGNMENT, ASSIGNMENT)
        for grade_id, points, kind in CELLS:
            gradebook.add_grade_cell(grade_id, ASSIGNMENT, ASSIGNMENT, max_score=points, cell_type=kind)
        for student in list(students) + (["f"] if students else []):
            gradebook.add_student(student)
        for student, scores in students.items():
            gradebook.add_submission(ASSIGNMENT, student)
            for (grade_id, _, kind), score in zip(CELLS, scores):
                grade = gradebook.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, student)
                grade.auto_score = None if kind == "markdown" else score
                grade.manual_score = score if kind == "markdown" else None
                grade.needs_manual_grade = score is None
            if student == "c":
                gradebook.find_grade("test_a", ASSIGNMENT, ASSIGNMENT, "c").manual_score = 1
            gradebook.db.commit()
            path = folder / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(autograded_notebook(student), str(path))
            (folder / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
    if students:
        (folder / "submitted" / "g" / ASSIGNMENT).mkdir(parents=True)
    if outcome_rows:
        write_outcomes(url)
    return folder


def write_outcomes(url):
    """The cnnkit_outcome table as ./kit grade writes it (contracts B), for a and d."""
    engine = sa.create_engine(url)
    table = sa.Table("cnnkit_outcome", sa.MetaData(),
                     sa.Column("assignment", sa.Text, primary_key=True), sa.Column("student", sa.Text, primary_key=True),
                     sa.Column("outcome", sa.Text), sa.Column("fault_kind", sa.Text), sa.Column("detail", sa.Text),
                     sa.Column("not_run", sa.Text), sa.Column("submitted_at", sa.Text),
                     sa.Column("graded_at", sa.Text), sa.Column("seconds", sa.Float),
                     sa.Column("phases", sa.Text), sa.Column("worker", sa.Text), sa.Column("attempts", sa.Integer))
    table.metadata.create_all(engine)
    empty = {column.name: None for column in table.columns}
    with engine.begin() as connection:
        connection.execute(table.insert(), [{**empty, **row} for row in [
            {"assignment": ASSIGNMENT, "student": "a", "outcome": "graded", "not_run": "[]",
             "graded_at": "2026-11-25T10:00:00Z", "seconds": 30.0, "worker": "local-1", "attempts": 1,
             "phases": json.dumps([{"phase": "kernel_start", "start": 0, "seconds": 2.0},
                                   {"phase": "part A", "start": 2, "seconds": 20.0}])},
            {"assignment": ASSIGNMENT, "student": "d", "outcome": "fault", "fault_kind": "out_of_memory",
             "detail": "the kernel ran out of memory", "not_run": json.dumps(["test_b"]),
             "graded_at": "2026-11-25T10:01:00Z", "seconds": 95.5, "phases": "[]", "worker": "local-2",
             "attempts": 2},
            {"assignment": "other", "student": "a", "outcome": "grader_error", "not_run": "[]",
             "graded_at": "2026-11-25T10:01:00Z", "seconds": 1.0, "phases": "[]", "attempts": 1}]])
    engine.dispose()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("report_course"))


@pytest.fixture(scope="module")
def collected(course):
    return collect.collect(course, ASSIGNMENT, budget=None)


def close(value, expected):
    return value == pytest.approx(expected, abs=1e-6)


def test_difficulty_and_full_marks_by_hand(collected):
    items = collected.items
    assert list(items.index) == [c[0] for c in CELLS]
    # test_a: a, b, c (override), e earn 1 of 1; d earns 0 -> 4/5.
    assert close(items.loc["test_a", "difficulty"], 0.8) and close(items.loc["test_a", "full_marks_share"], 0.8)
    # test_b: 2, 2, 0, 0, 2 of 2 -> mean 1.2, difficulty 0.6, 3 of 5 full.
    assert close(items.loc["test_b", "mean"], 1.2) and close(items.loc["test_b", "difficulty"], 0.6)
    assert close(items.loc["test_b", "full_marks_share"], 0.6)
    # test_hard: 0, 0, 1, 1, 0 of 2 -> mean 0.4, difficulty 0.2, nobody full.
    assert close(items.loc["test_hard", "difficulty"], 0.2) and close(items.loc["test_hard", "full_marks_share"], 0)
    # answer: e not graded yet and f never submitted: 2, 1, 1, 0 of 2 over four students.
    assert items.loc["answer", "n"] == 4 and items.loc["answer", "missing"] == 3
    assert close(items.loc["answer", "difficulty"], 0.5) and close(items.loc["answer", "full_marks_share"], 0.25)
    assert items.loc["answer", "awaiting_manual_grade"] == 1  # e; f did not submit, g was not graded


def test_discrimination_is_the_correlation_with_the_rest_by_hand(collected):
    disc = collected.items["discrimination"]
    # test_a = 1,1,1,0,1 against the rest (test_b + heldout + test_hard; not answer) = 3,3,2,2,3:
    # cov 0.6, var sums 0.8 and 1.2 -> 0.6 / sqrt(0.96) = sqrt(6)/4.
    assert close(disc["test_a"], math.sqrt(6) / 4)
    # test_b = 2,2,0,0,2 against 2,2,3,2,2: cov -1.2, sums 4.8 and 0.8 -> -1.2 / sqrt(3.84).
    assert close(disc["test_b"], -1.2 / math.sqrt(3.84))
    # test_hard = 0,0,1,1,0 against 4,4,2,1,4: cov -3, sums 1.2 and 8 -> -3 / sqrt(9.6).
    assert close(disc["test_hard"], -3 / math.sqrt(9.6))
    # answer over a-d = 2,1,1,0 against all four autograded cells 4,4,3,2: 2 / sqrt(2 * 2.75).
    assert close(disc["answer"], 2 / math.sqrt(5.5))
    # Everybody passed the held-out test: no variance, no correlation.
    assert math.isnan(disc["test_heldout_accuracy"])


def test_flags_follow_the_usual_thresholds(collected):
    flags = collected.items["flags"].to_dict()
    assert flags == {"test_a": "",                      # 0.8 is not over 0.8; r = 0.61
                     "test_b": "low discrimination",    # r = -0.61
                     "answer": "",
                     "test_heldout_accuracy": "easy",   # 1.0, r undefined: not flagged as low
                     "test_hard": "hard, low discrimination"}


def test_parts_sum_their_cells(collected):
    parts = collected.parts
    assert list(parts.index) == ["Part A: The model", "Question: Why", "Part B: Accuracy"]
    # Part A = test_a + test_b = 3,3,1,0,3 of 3 -> mean 2, difficulty 2/3; 3 of 5 full.
    assert close(parts.loc["Part A: The model", "difficulty"], 2 / 3)
    assert close(parts.loc["Part A: The model", "full_marks_share"], 0.6)
    assert parts.loc["Part A: The model", "points"] == 3


def test_missing_grades_stay_missing(collected):
    by_student = collected.by_student
    assert list(by_student.index) == ["a", "b", "c", "d", "e", "f", "g"]
    assert by_student.loc["e", "autograded"] == 4 and pd.isna(by_student.loc["e", "answer"])
    assert pd.isna(by_student.loc["e", "total"]) and pd.isna(by_student.loc["e", "manual"])
    assert by_student.loc["a", "total"] == 6 and by_student.loc["d", "total"] == 2
    assert by_student.loc[["f", "g"]].isna().all().all()
    assert by_student.loc["c", "test_a"] == 1  # the instructor's override


def test_failure_messages_are_counted_per_cell(collected):
    failures = collected.failures
    hard = failures[failures["cell"] == "test_hard"]
    # Three messages that differ only in their numbers are one mistake, shown as most saw it.
    assert hard.iloc[0]["count"] == 3 and close(hard.iloc[0]["share"], 0.6)
    assert hard.iloc[0]["students"] == "a, b, e" and hard.iloc[0]["part"] == "Part B: Accuracy"
    assert hard.iloc[0]["message"] == "accuracy 9.8% is below 30%."
    # c and d scored 1 of 2 with no message: still counted, as partial credit.
    assert list(hard.iloc[1][["count", "students"]]) == [2, "c, d"]
    assert hard.iloc[1]["message"] == collect.PARTIAL
    test_b = failures[failures["cell"] == "test_b"]
    assert sorted(test_b["message"]) == ["Not run: the kernel ran out of memory.",
                                         "the loss is MeanSquaredError; use cross-entropy."]
    assert list(test_b["count"]) == [1, 1] and list(test_b["of"]) == [5, 5]
    # Passed cells and the instructor's override are no failures; order follows the notebook.
    assert list(failures["cell"]) == ["test_a", "test_b", "test_b", "test_hard", "test_hard"]


def test_heldout_accuracy_threshold_and_calibration(collected):
    students = collected.students.set_index("student")
    assert students.loc["a", "heldout_accuracy"] == pytest.approx(0.353)
    assert students.loc["f", "heldout_status"] == "missing"
    heldout = collected.summary["heldout"]
    # What grading recorded in the notebooks' metadata, not a guess from the threshold.
    assert (heldout["budget"], heldout["threshold"], heldout["threshold_source"]) == (
        "smoke", 0.29, "the autograded notebooks")
    assert len(heldout["calibration"]["reference"]) == 20


def test_outcomes_come_from_the_table_then_the_notebooks(collected):
    outcomes = collected.outcomes.set_index("outcome")
    assert outcomes.to_dict("index") == {
        "graded": {"count": 4, "students": "a, b, c, e"},
        "fault: out_of_memory": {"count": 1, "students": "d"},
        "not graded": {"count": 1, "students": "g"},
        "no submission": {"count": 1, "students": "f"}}
    students = collected.students.set_index("student")
    assert students.loc["a", "seconds"] == 30 and students.loc["b", "seconds"] == 41   # table, notebook
    assert students.loc["d", "not_run"] == "test_b" and pd.isna(students.loc["c", "seconds"])
    assert collected.phases.groupby("student")["seconds"].sum().to_dict() == {"a": 22.0, "b": 33.0}


def test_csv_files_hold_the_tables(collected, tmp_path):
    collect.write(collected, tmp_path)
    items = pd.read_csv(tmp_path / "items.csv", index_col="cell")
    assert len(items) == 5 and math.isnan(items.loc["test_heldout_accuracy", "discrimination"])
    assert "n/a" in (tmp_path / "items.csv").read_text()
    cells = pd.read_csv(tmp_path / "by_student_and_cell.csv", index_col="student")
    assert cells.loc["b", "test_b"] == 2 and pd.isna(cells.loc["e", "answer"])


def test_report_page_for_the_class(course, tmp_path):
    page = build(course, ASSIGNMENT, out=tmp_path / "report")
    html = page.read_text()
    for name in ("scores", "items", "heldout", "timing"):
        assert (page.parent / f"{name}.png").stat().st_size > 10_000
        assert f'data-plot="{name}"' in html
    executed = nbformat.read(str(page.parent / "report.ipynb"), as_version=4)
    chatter = [o.get("text", "") for cell in executed.cells for o in cell.get("outputs", [])
               if o.get("name") == "stderr" or o.get("output_type") == "error"]
    assert not chatter  # no warnings or errors on the page
    assert "accuracy 9.8% is below 30%." in html and "3 of 5 (60%)" in html
    assert "fault: out_of_memory" in html
    # The template (cnnkit_tools/report/template.ipynb) takes its title and flag rules from the data.
    assert f">{ASSIGNMENT}: what the class got wrong<a class=\"anchor-link\"" in html and "difficulty under 30% (<em>hard</em>)" in html
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)  # undefined shows as n/a, missing as missing
    assert "<script src=" not in html  # no scripts fetched from the network


def test_report_says_when_nobody_has_a_score(tmp_path):
    folder = make_course(tmp_path / "course", students={}, outcome_rows=False)
    html = build(folder, ASSIGNMENT, out=tmp_path / "report").read_text()
    assert f"No student has a score for {ASSIGNMENT} yet" in html


def test_report_says_when_one_student_has_a_score(tmp_path):
    folder = make_course(tmp_path / "course", students={"a": SCORES["a"]}, outcome_rows=False)
    out = tmp_path / "report"
    out.mkdir()
    for name in ("scores.png", "mine.png"):  # a plot from an earlier, larger class; a file of the user's
        (out / name).write_bytes(b"old")
    page = build(folder, ASSIGNMENT, out=out)
    html = page.read_text()
    assert "Only one student has a score" in html and "Warning" not in html
    assert not (out / "scores.png").exists()  # no distribution of one score, and no stale one
    assert (out / "mine.png").read_bytes() == b"old"
    items = pd.read_csv(page.parent / "items.csv", index_col="cell")
    assert items["discrimination"].isna().all()


def test_unknown_assignment_is_an_error_not_a_report(course, tmp_path, capsys):
    from cnnkit_tools.report import main

    assert main(["nope", "--course", str(course), "--out", str(tmp_path / "r")]) == 2
    assert "assignment 'nope' is not in the gradebook" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

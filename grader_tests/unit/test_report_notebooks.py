"""What the report reads from autograded notebooks: verdicts, held-out accuracy, failures."""

import pandas as pd
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnkit_grader.judge import tasks
from cnnkit_tools.report import failures, heldout, notebooks


def graded_cell(grade_id, outputs=(), verdict=None):
    cell = new_code_cell("pass", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1, "solution": False}
    if verdict is not None:
        cell.metadata["cnnkit"] = {"verdict": verdict}
    return cell


def test_verdicts_prefer_the_structured_field_and_fall_back_on_outputs():
    error = new_output("error", ename="AssertionError", evalue="compile_model: wrong loss.", traceback=[])
    crash = new_output("error", ename="ValueError", evalue="bad shape", traceback=[])
    printed = new_output("stream", name="stdout", text="model_dropout classifies 35.3% of the held-out images correctly.\n")
    structured = {"passed": False, "rule": "compile_loss.logits_mismatch", "message": "logits!", "points": 2}
    nb = new_notebook(cells=[
        graded_cell("a", [error]), graded_cell("b", [crash]), graded_cell("c", [printed]), graded_cell("d"),
        graded_cell("e", [error], verdict=structured)])
    got = notebooks.verdicts(nb)
    assert (got["a"].passed, got["a"].message) == (False, "compile_model: wrong loss.")
    assert got["b"].message == "ValueError: bad shape"
    assert got["c"].passed and got["c"].message.startswith("model_dropout classifies 35.3%")
    assert got["d"].passed and got["d"].message == ""
    assert (got["e"].passed, got["e"].rule, got["e"].message) == (False, "compile_loss.logits_mismatch", "logits!")


def test_layout_names_each_cell_by_the_heading_above_it():
    answer = new_markdown_cell("YOUR ANSWER HERE")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "answer", "points": 2}
    nb = new_notebook(cells=[new_markdown_cell("## Part C: Compile the model (5 points)"), graded_cell("t1"),
                             new_markdown_cell("## Question: The curve (2 points)"), answer])
    items = notebooks.layout(nb, "nb")
    assert [(i.grade_id, i.part, i.kind, i.points) for i in items] == [
        ("t1", "Part C: Compile the model", "autograded", 1.0), ("answer", "Question: The curve", "manual", 2.0)]


def test_heldout_accuracy_is_what_the_grader_recorded_not_its_wording():
    """The report reads the verdict's measured figures, as the rule records them; no message is
    parsed, so rewording a message cannot change the report."""
    from cnnkit_grader.judge import rules
    import evidence_cases

    verdict = notebooks.Verdict
    for case, status in (("reference", "passed"), ("heldout_low", "below threshold"), ("mse_loss", "not scored"),
                         ("untrained", "below threshold"), ("empty_notebook", "no accuracy")):
        evidence, _ = evidence_cases.case(case)
        judged = tasks.judge(heldout.CELL, evidence)
        got = heldout.accuracy(verdict(judged.passed, "reworded", measured=judged.measured or {}))
        assert got[1] == status, (case, got)
        if status in ("passed", "below threshold"):
            assert got[0] == rules.accuracy(evidence.models["dropout"].measured["predictions"], evidence.heldout_labels)


def test_failures_group_by_rule_else_by_message_without_numbers():
    parts = {"t1": ("Part A", 0), "t2": ("Part B", 1)}
    failed = [("t2", "s1", "accuracy 9.8% is low", None), ("t2", "s2", "accuracy 10.1% is low", None),
              ("t1", "s3", "the output has no softmax", "loss.logits"),
              ("t1", "s4", "the output is linear", "loss.logits"),
              ("t1", "s5", "the loss is MSE", "loss.mse")]
    table = failures.table(failed, {"t1": 6, "t2": 6}, parts)
    assert table[["cell", "rule", "count", "students"]].values.tolist() == [
        ["t1", "loss.logits", 2, "s3, s4"], ["t1", "loss.mse", 1, "s5"], ["t2", "", 2, "s1, s2"]]
    assert table.loc[0, "share"] == 2 / 6 and table.loc[0, "part"] == "Part A"
    assert failures.table([], {}, parts).empty and isinstance(failures.table([], {}, parts), pd.DataFrame)

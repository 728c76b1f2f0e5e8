"""Every rule, judged on evidence records: which cells each mistake loses, and what each says.

The evidence comes from ``evidence_cases``: real Keras configs (built, never trained) and the
figures the sandboxed measurement reports. ``grader_tests/goldens/rules.txt`` holds every verdict's
message; ``--update-goldens`` rewrites it after a deliberate change of wording.
"""

import pytest

from cnnkit_grader.judge import tasks

from evidence_cases import CASES, case


@pytest.mark.parametrize("name", CASES)
def test_each_mistake_loses_exactly_its_cells(name):
    evidence, fails = case(name)
    lost = {grade for grade in tasks.TASKS if not tasks.judge(grade, evidence).passed}
    assert lost == fails


def test_failure_messages_match_the_goldens(golden):
    lines = []
    for name in CASES:
        evidence, _ = case(name)
        lines.append(f"## {name}")
        for grade in tasks.TASKS:
            verdict = tasks.judge(grade, evidence)
            if not verdict.passed:
                lines.append(f"{grade}: {verdict.failure}: {verdict.message}")
            elif verdict.message:
                lines.append(f"{grade}: passed: {verdict.message}")
        lines.append("")
    golden("rules.txt", "\n".join(lines))


def test_every_failure_says_what_to_fix():
    """No message is empty, and none shows a threshold or an expected held-out figure."""
    for name in CASES:
        evidence, _ = case(name)
        for grade in tasks.TASKS:
            verdict = tasks.judge(grade, evidence)
            if not verdict.passed:
                assert len(verdict.message) > 30, (name, grade, verdict.message)
                # Messages print shares as percentages (rules.heldout_accuracy: "{score:.1%}").
                threshold = evidence.threshold
                for shown in (str(threshold), f"{threshold:.1%}", f"{threshold:.0%}"):
                    assert shown not in verdict.message, (name, grade, verdict.message)


def test_heldout_accuracy_is_reported_with_its_threshold():
    evidence, _ = case("reference")
    verdict = tasks.judge("test_heldout_accuracy", evidence)
    assert verdict.passed and verdict.measured == {"heldout_accuracy": 0.35, "threshold": 0.29}
    assert verdict.message == "model_dropout classifies 35.0% of the held-out images correctly."


def test_a_charged_mistake_is_not_charged_twice_but_a_new_one_is():
    """Part G's held-out test skips only the mistake Part C already took points for."""
    skipped = tasks.judge("test_heldout_accuracy", case("mse_loss")[0])
    assert skipped.passed and skipped.message.startswith("Held-out accuracy not scored: the loss is MeanSquaredError")
    measured = tasks.judge("test_heldout_accuracy", case("part_g_skip")[0])
    assert not measured.passed and "It was trained for 1 of the" in measured.message


def test_the_table_names_every_graded_cell_of_the_source_once():
    from pathlib import Path

    from cnnkit_tools import submissions

    source = submissions.read(Path(__file__).resolve().parents[2] / "source" / "compile_and_train"
                              / "compile_and_train.ipynb")
    graded = [c.metadata.nbgrader["grade_id"] for c in source.cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert sorted(graded) == sorted(tasks.TASKS)
    answers = {task.answer for task in tasks.TASKS.values()}
    assert answers == set(tasks.PROBE_ANSWERS) | set(tasks.KERNEL_ANSWERS)
    ids = {tasks.grade_id(c) for c in source.cells}
    assert {tasks.SETUP_CELL, tasks.DATA_CELL, tasks.UPDATES_CELL, tasks.MEASURE_AHEAD_CELL, *tasks.FUNCTION_CELLS} <= ids


def test_odd_evidence_fails_its_cell_and_never_the_submission():
    """Shapes no honest notebook produces: each cell fails alone, with a message, and nothing raises."""
    evidence, _ = case("reference")
    evidence.models["compiled"].config["compile_config"] = [1]
    evidence.models["dropout"].config["compile_config"] = {"loss": {"class_name": "LossFunctionWrapper",
                                                                    "config": [1]}}
    evidence.answers["plot"] = {"values": {"frame": {"index": "x", "columns": [[[]]]}, "plots": {"loss": 7}}}
    evidence.answers["tuning"]["values"]["val_losses"] = {"a": 1}
    verdicts = {grade: tasks.judge(grade, evidence) for grade in tasks.TASKS}
    failed = {grade for grade, verdict in verdicts.items() if not verdict.passed}
    assert {"test_compile_form", "test_heldout_accuracy", "test_plot_content", "test_tuning_form"} <= failed
    assert "test_build_structure" not in failed and "test_save_best" not in failed
    assert all(verdict.message for grade, verdict in verdicts.items() if grade in failed)

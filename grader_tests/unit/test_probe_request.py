"""Part E's collector shares a process with no other cell's code, and no probe answers for another.

A class body is code: if any cell but ``train``'s ran in Part E's probe process, it could replace
the collector and hand over a model and History it made up (``attacks.forged_probe`` does that
through the real pipeline).
"""

import json
from pathlib import Path

from cnnkit_grader.boundary import fresh, probe
from cnnkit_grader.judge import tasks
from cnnkit_grader.plugins import score
from cnnkit_tools import submissions

TESTS = Path(__file__).resolve().parents[1]


def _request(isolated):
    nb = submissions.read(TESTS.parent / "release" / "compile_and_train" / "compile_and_train.ipynb")
    return nb, probe.request(nb, fresh.draw(1), isolated)


def test_part_e_runs_the_setup_cell_and_its_own_cell_only():
    nb, request = _request("train")
    train = next(c.source for c in nb.cells if tasks.grade_id(c) == "train")
    assert [cell["source"] for cell in request["cells"]] == [train]
    assert request["answers"] == ["train"] and request["updates_cell"] == ""
    assert request["answers_file"] == "answers-train.json"


def test_the_other_probe_never_collects_part_e():
    _, request = _request(None)
    assert "train" not in request["answers"] and request["answers_file"] == "answers.json"
    assert set(request["answers"]) | set(tasks.ISOLATED) == set(tasks.PROBE_ANSWERS)


def test_a_probe_file_answers_only_for_its_own_process(tmp_path):
    forged = {"values": {"history": {"type": "History", "curves": {"loss": [1.0]}}, "trained": "saved"}}
    (tmp_path / "answers.json").write_text(json.dumps({"train": forged, "build": {"values": {"base": "saved"}}}))
    (tmp_path / "answers-train.json").write_text(json.dumps({"build": {"values": {"base": "forged"}}}))
    answers = score.read_answers(tmp_path)
    assert answers == {"build": {"values": {"base": "saved"}}}

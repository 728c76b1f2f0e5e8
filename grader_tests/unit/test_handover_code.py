"""The hand-over code the graded kernel runs works where the grader cannot be imported.

The kernel runs inside/handover.py as text (boundary/handover.code, sent by GuardedExecute._handover): the grader's packages are
not importable there. A hand-over that imports them fails in every graded notebook, and loses
Parts G to I (a smoke grading caught one that did). Here the code runs in a fresh Python whose
``import cnnkit_grader`` fails, as in the kernel, and must still write its answer."""

import json
import subprocess
import sys

import pytest

from cnnkit_grader.boundary.handover import code as handover_code

pytestmark = pytest.mark.fast

NO_GRADER = "import sys\nsys.modules['cnnkit_grader'] = None  # as in the graded kernel: not importable\n"


def test_the_kernels_handover_runs_without_the_grader_and_writes_its_answer(tmp_path):
    code = NO_GRADER + "DROPOUT_RATES = [0.1]\n" + handover_code("tuning", tmp_path)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "tuning.json").read_text())
    assert record == {"error": "NameError: tuned_models is not defined"}  # the notebook's gap, not ours


def test_the_grader_takes_only_what_the_answer_may_bring_and_never_a_link(tmp_path):
    """What a hostile kernel writes into its inbox: a forged answer of another part, a link to a
    file of the grader's, a model named for no answer. Only the answer's own record and models,
    and Part I's saved files by the names it gave, are taken."""
    import logging
    import os

    from cnnkit_grader.boundary import handover, sandbox

    scratch, answers = tmp_path / "scratch", tmp_path / "answers"
    scratch.mkdir(), answers.mkdir()
    handover.make_folder(scratch, sandbox.Slot(name="unsandboxed"))
    secret = tmp_path / "secret.json"
    secret.write_text('{"values": {"forged": 1}}')
    inbox = handover.Inbox(scratch, sandbox.Slot(name="unsandboxed"), answers, logging.getLogger("test"))
    saving = {"values": {"BASELINE_PATH": "base.keras", "DROPOUT_PATH": "../escape.keras", "best_model_path": "x"}}
    (inbox.folder / "saving.json").write_text(json.dumps(saving))
    for name in ("final_base.keras", "tuned_0.keras", "extra.keras"):
        (inbox.folder / name).write_text("model")
    (inbox.folder / "dropout.json").write_text('{"values": {"forged": 1}}')   # another part's answer
    os.symlink(secret, inbox.folder / "final_dropout.keras")                  # a link, not a model
    (scratch / "base.keras").write_text("saved by the notebook")
    assert inbox.take("saving") is True
    assert sorted(p.name for p in answers.iterdir()) == ["final_base.keras", "saved", "saving.json"]
    assert [p.name for p in (answers / "saved").iterdir()] == ["base.keras"]
    # An inbox is fresh each time: what an earlier one held is not taken again.
    again = handover.Inbox(scratch, sandbox.Slot(name="unsandboxed"), tmp_path / "answers2", logging.getLogger("test"))
    (tmp_path / "answers2").mkdir()
    assert again.folder != inbox.folder and again.take("dropout") is False and not list((tmp_path / "answers2").iterdir())

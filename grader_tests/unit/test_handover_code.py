"""The hand-over code the graded kernel runs works where the grader cannot be imported.

The kernel runs inside/handover.py as text (GuardedExecute._handover): the grader's packages are
not importable there. A hand-over that imports them fails in every graded notebook, and loses
Parts G to I (a smoke grading caught one that did). Here the code runs in a fresh Python whose
``import cnnkit_grader`` fails, as in the kernel, and must still write its answer."""

import json
import subprocess
import sys

import pytest

from cnnkit_grader.plugins.execute import handover_code

pytestmark = pytest.mark.fast

NO_GRADER = "import sys\nsys.modules['cnnkit_grader'] = None  # as in the graded kernel: not importable\n"


def test_the_kernels_handover_runs_without_the_grader_and_writes_its_answer(tmp_path):
    code = NO_GRADER + "DROPOUT_RATES = [0.1]\n" + handover_code("tuning", tmp_path)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "tuning.json").read_text())
    assert record == {"error": "NameError: tuned_models is not defined"}  # the notebook's gap, not ours

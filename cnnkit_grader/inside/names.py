"""The hand-over's names: the one contract between the collectors in the sandbox and the judge.

``inside.handover`` saves the notebook's models under these names; the boundary measures the
files by name, and ``judge.rules`` asks for each by name. Spelled once here, so a collector and
a rule cannot drift apart. Plain data: the judge may import this module and nothing else of
``inside`` (grader_tests/unit/test_layers.py).
"""

import re

MODEL_SUFFIX = ".keras"
SAVED = "saved"                # a collector's note that it saved a model, and the folder of the
                               # files the notebook itself saved under BASELINE_PATH and DROPOUT_PATH
FINAL_BASE = "final_base"      # the notebook's ``model`` and ``model_dropout`` at the end, beside
FINAL_DROPOUT = "final_dropout"  # the files it saved, to tell whether those files are these models
TUNED_PREFIX = "tuned_"        # Part H's candidates: tuned_0, tuned_1, ... in DROPOUT_RATES' order
SAVED_PREFIX = "saved:"        # a file the notebook saved, measured under "saved:<file name>"
TUNED_FILE = re.compile(rf"{TUNED_PREFIX}\d+{re.escape(MODEL_SUFFIX)}")
SAVED_PATHS = ("BASELINE_PATH", "DROPOUT_PATH")  # Part I: the names of the files the notebook saved


def tuned(index):
    """The name of the candidate trained with the index-th rate."""
    return f"{TUNED_PREFIX}{index}"


def saved(file_name):
    """The name of a model file the notebook saved itself."""
    return SAVED_PREFIX + file_name

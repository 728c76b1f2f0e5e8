"""The held-out accuracy each budget's dropout model must reach, as calibration measured it.

``python -m cnnkit_tools.lab.calibrate --publish`` writes ``thresholds.json`` beside this file; it
is the one place the grader reads a threshold from. A threshold belongs to a budget because
the accuracy a correct model reaches depends on how long it trained.
"""

import json
from pathlib import Path

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")


def read_thresholds(path=THRESHOLDS_FILE):
    """``{budget name: held-out threshold}`` from a thresholds file that calibration wrote."""
    entries = json.loads(Path(path).read_text())["budgets"]
    return {name: float(entry["heldout_threshold"]) for name, entry in entries.items()}


def heldout_threshold(budget_name):
    return read_thresholds()[budget_name]

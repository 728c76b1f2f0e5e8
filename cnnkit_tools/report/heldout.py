"""Each student's held-out accuracy, the threshold it was judged by, and the calibration.

The accuracy comes from the held-out test cell's verdict as the grader recorded it
(``measured.heldout_accuracy``). The grader does not score accuracy when another test already
charges the mistake (``measured.not_scored``), nor when the model was never trained or saved;
those students have no accuracy, and the reason (the verdict's message) is kept.

The budget and threshold are what the grading recorded in each autograded notebook's metadata;
the reference distribution is what calibration measured for a correct notebook over seeds,
``docs/calibration/<budget>/calibration.json``.
"""

import json
from pathlib import Path

CELL = "test_heldout_accuracy"


def accuracy(verdict):
    """``(accuracy or None, status, reason)`` from the held-out cell's verdict.

    status: "passed" or "below threshold" when measured, "not scored" when the grader
    deliberately skipped it, "no accuracy" when it could not measure (reason says why).
    """
    measured = verdict.measured.get("heldout_accuracy")
    if measured is not None:
        return float(measured), "passed" if verdict.passed else "below threshold", ""
    if verdict.measured.get("not_scored"):
        return None, "not scored", verdict.message
    return None, "no accuracy", verdict.message


def thresholds(path):
    """``{budget: threshold}`` from the grader's thresholds file; {} if it is missing."""
    try:
        entries = json.loads(Path(path).read_text())["budgets"]
    except (OSError, ValueError, KeyError):
        return {}
    return {name: float(entry["heldout_threshold"]) for name, entry in entries.items()
            if isinstance(entry, dict) and "heldout_threshold" in entry}


def calibration(folder, budget):
    """What calibration measured for ``budget``: reference accuracies per seed, and the rest."""
    path = Path(folder) / budget / "calibration.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    seeds = found.get("reference_accuracy") or {}
    return {"budget": budget, "path": str(path),
            "reference": [float(v) for v in seeds.values()],
            "threshold": found.get("threshold"), "training": found.get("training"),
            "date": found.get("date"),
            "broken": {name: sorted(float(v) for v in entry.get("accuracy", {}).values())
                       for name, entry in (found.get("broken") or {}).items()}}

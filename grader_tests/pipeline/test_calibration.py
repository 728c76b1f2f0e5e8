"""The held-out threshold: calibrated by a real command, and read from the one file it writes.

The calibration runs for real (the notebook's own cells train the dropout model), with two
seeds and one broken configuration under the smoke budget; ``./kit calibrate`` runs the
published calibration with 20 seeds.
"""

import json
import subprocess
import sys

import matplotlib.image
import pytest

from cnnkit import budget
from cnnkit_grader.judge import thresholds
from cnnkit_tools import course
from cnnkit_tools.lab import calibrate


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, cifar_dir):
    out = tmp_path_factory.mktemp("calibration")
    done = subprocess.run(
        [sys.executable, "-m", "cnnkit_tools.lab.calibrate", "--budget", "smoke", "--seeds", "2",
         "--broken-seeds", "1", "--broken", "untrained", "--out", str(out)],
        env=course.environment(), cwd=course.ROOT, capture_output=True, text=True, timeout=600)
    return out, done


def test_calibration_command_succeeds_and_prints_its_report(calibration):
    out, done = calibration
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.startswith("# Held-out accuracy calibration, budget `smoke`"), done.stdout[:500]
    assert f"written to {out}" in done.stdout


def test_calibrated_threshold_passes_every_seed_and_fails_the_untrained_model(calibration):
    out, _ = calibration
    result = json.loads((out / "calibration.json").read_text())
    threshold = thresholds.read_thresholds(out / "thresholds.json")["smoke"]
    assert threshold == result["threshold"]
    reference = list(result["reference_accuracy"].values())
    assert len(reference) == 2 and all(accuracy >= threshold for accuracy in reference)
    assert result["false_fails"] == 0 and result["problems"] == []
    untrained = result["broken"]["untrained"]["accuracy"]["1"]
    assert untrained <= threshold - calibrate.GAP
    # Every budget that trains the dropout model as smoke does gets the same threshold.
    assert set(thresholds.read_thresholds(out / "thresholds.json")) == set(calibrate.sharing_training("smoke"))


def test_calibration_report_gives_the_figures_and_a_plot(calibration):
    out, _ = calibration
    result = json.loads((out / "calibration.json").read_text())
    text = (out / "report.md").read_text()
    ref = result["reference"]
    assert f"| **threshold** | **{result['threshold']:.2f}** |" in text
    assert f"| reference min / mean / max | {ref['min']:.4f} / {ref['mean']:.4f}" in text
    assert f"| reference standard deviation | {ref['std']:.4f} |" in text
    assert "| untrained | `untrained` | 1 |" in text
    image = matplotlib.image.imread(out / "calibration.png")
    assert image.shape[0] >= 200 and image.shape[1] >= 400
    assert image[..., :3].std() > 0.05  # drawn on, not blank


def test_published_thresholds_match_todays_budgets_and_their_calibration():
    entries = json.loads(thresholds.THRESHOLDS_FILE.read_text())["budgets"]
    assert set(entries) == set(budget.BUDGETS)
    for name, b in budget.BUDGETS.items():
        entry = entries[name]
        assert entry["training"] == {"n_train": b.n_train, "epochs": b.epochs,
                                     "batch_size": b.batch_size}, (
            f"budget {name!r} trains differently from when its threshold was calibrated: "
            f"run ./kit calibrate --budget {name} --seeds 20 --publish")
        assert thresholds.heldout_threshold(name) == entry["heldout_threshold"]
        calibration = entry["calibration"]
        assert calibration["seeds"] >= calibrate.MIN_PUBLISHED_SEEDS
        assert calibration["reference"]["min"] >= thresholds.heldout_threshold(name)  # no seed falls below
        assert calibration["worst_broken"] <= thresholds.heldout_threshold(name) - calibrate.GAP
        # The published report it came from (the student budget shares grading's).
        published = calibrate.PUBLISHED_DIR / calibration["budget"] / "calibration.json"
        assert json.loads(published.read_text())["threshold"] == thresholds.heldout_threshold(name)

"""The hidden tests of the *source* notebook: the same collectors, measurements and rules, in one process.

``nbgrader validate`` on the instructor's source runs each hidden test cell, which is one call:
``check("test_...", globals())``. This builds the evidence record the grader would, from the
live notebook (the collectors of ``inside/probe.py`` and ``inside/handover.py``, the measurements
of ``inside/measure.py``), and applies the same rule. At autograde these cells never reach the
student's kernel: ``GuardedExecute`` strips them and ``ScoreOutside`` judges outside.

Part D is judged on the notebook's own ``N_TRAIN`` and ``BATCH_SIZE`` here (the probe reruns
the cell with fresh ones at autograde); the other fresh inputs use a fixed, public seed.
"""

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

from cnnkit import budget as budgets

from cnnkit_grader.boundary import files, fresh, measurement
from cnnkit_grader.judge import tasks, thresholds
from cnnkit_grader.judge.evidence import Evidence
from cnnkit_grader.inside import handover, probe
from cnnkit_grader.inside import names as handover_names
from cnnkit_grader.inside import measure as inside_measure

# Names the probe's collectors set in the namespace; restored after an in-process check.
TOUCHED = ("N_TRAIN", "BATCH_SIZE", "train_images", "train_labels", "val_images", "val_labels")


@contextlib.contextmanager
def silenced():
    """Swallow Python warnings and anything written to file descriptor 2 (TensorFlow's C++ logs)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings(), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def restored(ns, names=TOUCHED):
    missing = object()
    saved = {name: ns.get(name, missing) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                ns.pop(name, None)
            else:
                ns[name] = value


def measure_here(paths, models, asks, budget, probe):
    """What inside/measure.py reports, measured in this process (the instructor's own notebook)."""
    import keras

    val_images, val_labels, heldout_images, _ = measurement.grading_data(budget.n_train, budget.n_val, budget.seed)
    sets = {"grading": (val_images, val_labels), "probe": probe["val"]}
    for name, path in paths.items():
        if models[name].config is None:
            continue
        asked = asks.get(name, {})
        try:
            model = keras.saving.load_model(path, safe_mode=True)
            models[name].measured = inside_measure.measure(
                model, sets.get(asked.get("val")), heldout_images if asked.get("predict") else None,
                baseline=bool(asked.get("baseline")),
                start=(probe["seed"], probe["train"], probe["call"]) if asked.get("start") else None)
        except Exception as err:  # noqa: BLE001 - as the sandboxed measurement reports it
            models[name].measured = {"error": f"{type(err).__name__}: {str(err)[:300]}"}


def collect_here(answer, ns, inputs, arrays, folder):
    """One answer from the live notebook, by the collector the probe or the kernel's hand-over uses."""
    if answer in tasks.PROBE_ANSWERS:
        collector = probe.Probe({"fresh": inputs, "updates_cell": None}, arrays, folder)
        with restored(ns):
            return probe.collect(collector, answer, ns)
    record = handover.collect(answer, ns, str(folder))
    if answer == "saving" and "values" in record:
        names = [record["values"].get(k) for k in handover_names.SAVED_PATHS]
        (Path(folder) / handover_names.SAVED).mkdir()
        files.take(".", [n for n in names if isinstance(n, str)], Path(folder) / handover_names.SAVED,
                   files.Limits(files=2, file_bytes=50 * 2**20, total_bytes=100 * 2**20))
    return record


def evidence_here(grade_id, ns, folder):
    budget = budgets.current()
    inputs = fresh.draw(fresh.SELF_CHECK_SEED)
    inputs["updates"] = {"n_train": ns.get("N_TRAIN"), "batch_size": ns.get("BATCH_SIZE")}
    answer = tasks.TASKS[grade_id].answer
    # Part E's few images come from the whole training set: read it only when Part E is judged.
    arrays = fresh.training_arrays(inputs) if answer == "train" else dict.fromkeys(
        ("train_images", "train_labels", "val_images", "val_labels"))
    answers = {}
    for needed in (answer,) + tasks.ALSO.get(answer, ()):
        answers[needed] = collect_here(needed, ns, inputs, arrays, folder)
    paths = measurement.model_paths(folder)
    models = measurement.check_files(paths)
    measure_here(paths, models, measurement.measure_asks(paths), budget, measurement.probe_sets(inputs, arrays))
    return Evidence(budget=budget, threshold=thresholds.heldout_threshold(budget.name), fresh=inputs,
                    answers=answers, models=models,
                    heldout_labels=measurement.grading_data(budget.n_train, budget.n_val, budget.seed)[3])


def check(grade_id, ns):
    """Judge one graded cell of the live notebook; raise AssertionError with the rule's message."""
    with tempfile.TemporaryDirectory(prefix="cnnkit-selfcheck-") as folder, silenced():
        verdict = tasks.judge(grade_id, evidence_here(grade_id, ns, folder))
    if not verdict.passed:
        raise AssertionError(verdict.message)
    if verdict.message:
        print(verdict.message)

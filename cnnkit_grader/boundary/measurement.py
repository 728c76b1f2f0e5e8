"""Trusted side of measuring: check model files, measure the accepted ones where no student code runs.

Every model file first passes ``modelfile``'s allowlist as plain JSON; only then is it loaded,
with ``safe_mode=True``, in a fresh sandboxed process (``inside/measure.py``) with no network,
no data folder, a memory limit and a timeout. That process gets the validation images with
their labels and the held-out images without theirs: the held-out labels stay here.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from cnnkit import data

from cnnkit_grader.boundary import files, fresh, modelfile, sandbox
from cnnkit_grader.inside import names
from cnnkit_grader.judge.evidence import Model


@functools.lru_cache(maxsize=1)
def heldout_set():
    """The held-out images (uint8) and their labels, which never leave the trusted side."""
    # As stored: the same values as rounding the scaled images back, without the 3 float copies.
    return data.load_heldout(scaled=False)


@functools.lru_cache(maxsize=2)
def grading_data(n_train, n_val, seed):
    """The notebook's validation split (uint8, with labels) and the held-out images and labels.

    The same images ``cnnkit.data.load_training_split`` gives the notebook, before its scaling.
    Only those are read, not the 50,000 (150 MB): the source notebook's hidden tests call this
    in the instructor's kernel, beside the notebook's own models and data.
    """
    _, val = data.split_indices(n_train, n_val, seed)
    return data.load_training_at(val) + heldout_set()


def heldout_accuracy(model):
    """A live model's accuracy on the held-out images, measured as the grader measures a saved one."""
    from cnnkit_grader.judge import rules
    from cnnkit_grader.inside.measure import predict_classes

    images, labels = heldout_set()
    return rules.accuracy(predict_classes(model, images), labels)


def model_paths(folder):
    """``{model name: path}`` of the model files handed over, and of the files the notebook saved."""
    from cnnkit_grader.boundary import files

    folder = Path(folder)
    suffix = names.MODEL_SUFFIX
    paths = {name[:-len(suffix)]: folder / name for name in files.list_names(folder) if name.endswith(suffix)}
    paths.update({names.saved(name): folder / names.SAVED / name for name in files.list_names(folder / names.SAVED)})
    return paths


def measure_asks(paths):
    """What each rule needs measured: validation losses of the tuned and saved models, the probe's
    trained model on its own validation set, and the dropout model's held-out predictions, its
    validation loss and that of the lesson's network freshly initialised by the grader (to tell
    training from none), which Part H's candidates need too. The probe's trained model is also
    measured on the images ``train`` was given, beside the network the probe gave it as it was
    before training (``start``): Part E's collector shares a process with the student's code, so
    only a loss the grader measures itself shows that ``train`` trained."""
    from cnnkit_grader.judge import tasks

    def val(name):
        if name == "trained":
            return "probe"
        return "grading" if name.startswith((names.TUNED_PREFIX, names.SAVED_PREFIX)) or name in tasks.PREDICTS_HELDOUT else None
    return {name: {"val": val(name), "predict": name in tasks.PREDICTS_HELDOUT,
                   "baseline": name in tasks.PREDICTS_HELDOUT or name.startswith(names.TUNED_PREFIX),
                   "start": name == "trained"} for name in paths}


def probe_sets(inputs, arrays):
    """What the measurement needs of Part E's call: the fresh seed the probe built the lesson's
    network from, and the uint8 images (with labels) it passed to ``train`` and validated on."""
    return {"seed": inputs["seed"], "call": (inputs["training"]["epochs"], inputs["training"]["batch_size"]),
            "train": (arrays["train_images"], arrays["train_labels"]),
            "val": (arrays["val_images"], arrays["val_labels"])}


def check_files(paths):
    """``{name: Model}`` with each file's config, or why it was refused."""
    models = {}
    for name, path in paths.items():
        try:
            models[name] = Model(config=modelfile.read_config(path))
        except modelfile.UnsafeModel as err:
            models[name] = Model(rejected=str(err))
    return models


class Evaluator:
    """The sandboxed process that measures model files, started early so its imports overlap the notebook.

    ``start(budget, inputs)`` launches it waiting. ``hand_inputs()`` gives it, from a thread, the
    grader's own inputs (``inputs.npz`` and ``inputs.json``), so the work that needs no student
    model runs while the notebook still does (``inside.measure.ahead``; ``GuardedExecute`` calls
    it as Part H's cell starts, ``tasks.MEASURE_AHEAD_CELL``). ``measure()`` hands them if that
    was not done yet, writes the accepted files into its read-only folder, then the request, and
    reads its one line of JSON.
    """

    def __init__(self, slot, log, wait=3600):
        self.slot, self.log, self.wait = slot, log, wait
        # The slot's user only reads this folder; no other account can reach it (0700, files 0600).
        self.folder = sandbox.private_folder(slot, "cnnkit-measure-")
        sandbox.give(self.folder, slot)
        self.process = None
        self._given, self._inputs, self._inputs_failed = None, None, None

    def start(self, budget, inputs):
        """Launch the process; ``inputs`` are the submission's fresh inputs (``fresh.draw``)."""
        self._given = (budget, inputs)
        argv = [sys.executable, "-m", "cnnkit_grader.inside.measure", str(self.folder), str(self.wait)]
        env = None
        if sandbox.enabled():
            argv = sandbox.command(argv, self.slot, readonly=[self.folder], with_data=False, with_inside=True,
                                   memory=sandbox.HELPER_MEMORY)
        else:
            env = dict(os.environ, PYTHONPATH=str(sandbox.INSIDE.parent.parent))
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, start_new_session=True)
        return self

    def hand_inputs(self, ahead=True):
        """Hand the grader's inputs over (once), from a thread: reading the images takes about a
        second. ``ahead=False`` when the models are already there: the process measures only
        what they need."""
        if self._inputs is None:
            self._inputs = threading.Thread(target=self._hand_inputs, args=(*self._given, ahead), daemon=True)
            self._inputs.start()

    def _hand_inputs(self, budget, inputs, ahead):
        try:
            val_images, val_labels, heldout_images, _ = grading_data(budget.n_train, budget.n_val, budget.seed)
            probe = probe_sets(inputs, fresh.training_arrays(inputs))
            np.savez(self.folder / "inputs.npz", grading_images=val_images, grading_labels=val_labels,
                     probe_images=probe["val"][0], probe_labels=probe["val"][1],
                     start_images=probe["train"][0], start_labels=probe["train"][1], heldout_images=heldout_images)
            self._publish("inputs.json", {"start_seed": probe["seed"], "start_call": list(probe["call"]),
                                          "ahead": ahead})
        except Exception as err:  # noqa: BLE001 - raised again by measure() if a model needs it
            self._inputs_failed = err
            if self.log is not None:
                self.log.error("handing the measurement its inputs failed: %s: %s", type(err).__name__, err)

    def _publish(self, name, content):
        """Write ``name`` whole, readable by the slot's user, where the process waits for it."""
        tmp = self.folder / f".{name}"
        tmp.write_text(json.dumps(content))
        sandbox.give(self.folder, self.slot)
        os.replace(tmp, self.folder / name)

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._inputs is not None:
            self._inputs.join()
        files.remove_tree(self.folder, self.log)

    def measure(self, paths, models, asks, timeout):
        """Fill ``models[name].measured`` for the accepted files; ``asks[name]`` as ``measure_asks`` gives it."""
        accepted = {name: f"model{i}" for i, name in enumerate(n for n in paths if models[n].config is not None)}
        results = {}
        if accepted:
            self.hand_inputs(ahead=False)
            self._inputs.join()
            if self._inputs_failed is not None:
                raise self._inputs_failed
            for name, alias in accepted.items():
                shutil.copyfile(paths[name], self.folder / f"{alias}.keras")
            self._publish("request.json", {"models": {alias: asks.get(name, {}) for name, alias in accepted.items()}})
            results = self._result(timeout)
        for name, alias in accepted.items():
            result = results.get(alias) if isinstance(results, dict) else None
            models[name].measured = result if isinstance(result, dict) else {
                "error": "the grader could not measure this model within its time and memory limits"}

    def _result(self, timeout):
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            self.log.error("measuring the models took more than %s s", timeout)
            return None
        if self.process.returncode != 0:
            self.log.error("measuring the models failed: %s", stderr[-2000:])
            return None
        try:
            return json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.log.error("the measurement printed no result: %s", stderr[-2000:])
            return None

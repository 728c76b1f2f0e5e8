"""nbgrader preprocessor: score every graded test cell outside the student's kernel.

Runs in nbgrader's own process after ``GuardedExecute`` and before ``SaveAutoGrades``. It
checks each model the harvest handed over (``modelfile``), measures the accepted ones in a
fresh sandboxed process (``evaluate``) against the validation split and the held-out images,
judges every graded test cell (``verdicts``), and writes the verdict into the cell's outputs:
an error output when it fails, none when it passes. ``SaveAutoGrades`` then records exactly
these verdicts, so the gradebook, ``export`` and feedback all agree with them.
"""

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from cnnkit import budget as budgets
from cnnkit import data
from . import modelfile, sandbox, verdicts
from .execute import error_output, grade_id, list_names, take_files

EVALUATOR_MEMORY = 4 * 2**30
MAX_ANSWER = 5 * 2**20


@functools.lru_cache(maxsize=2)
def _grading_data(n_train, n_val, seed):
    """Validation split (with labels) and held-out images and labels, read once per process."""
    (_, _), (val_images, val_labels) = data.load_training_split(n_train, n_val, seed)
    heldout_images, heldout_labels = data.load_heldout()
    return val_images, val_labels, (heldout_images * 255).round().astype(np.uint8), heldout_labels


class ScoreOutside(NbGraderPreprocessor):
    evaluate_timeout = Integer(600, help="Seconds the sandboxed evaluation of all models may take.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("cnnkit")
        if info is None:
            raise RuntimeError("ScoreOutside needs cnnkit_grader.execute.GuardedExecute before it "
                               "in Autograde.autograde_preprocessors (see nbgrader_config.py).")
        answers = Path(info["answers"])
        try:
            evidence = self.gather(answers, Path(info["student_dir"]), info.get("fault"))
            for cell in nb.cells:
                grade = grade_id(cell)
                if grade in verdicts.JUDGES:
                    self.record(cell, *verdicts.judge(grade, evidence))
        finally:
            shutil.rmtree(answers, ignore_errors=True)
        if info.get("notes"):
            nb.cells.insert(0, new_markdown_cell("**Grader's notes**\n\n" + "\n".join(
                f"- {note}" for note in info["notes"])))
        return nb, resources

    @staticmethod
    def record(cell, passed, message):
        # Keep what the student printed; drop in-kernel errors, stderr and returned values,
        # which the kernel controls: the verdict alone decides the score.
        kept = [o for o in cell.outputs if o.output_type == "display_data"
                or (o.output_type == "stream" and o.name == "stdout")]
        if passed:
            cell.outputs = kept + ([new_output("stream", name="stdout", text=message + "\n")] if message else [])
        else:
            cell.outputs = kept + [error_output("AssertionError", message)]

    def gather(self, answers, student_dir, fault):
        current = budgets.current()
        evidence = verdicts.Evidence(budget=current, fault=fault)
        for name in list_names(answers):
            path = answers / name
            if name.endswith(".json") and path.stat().st_size <= MAX_ANSWER:
                try:
                    evidence.answers[name[:-len(".json")]] = json.loads(path.read_text())
                except ValueError:
                    pass
        saving = (evidence.answers.get("test_save_best") or evidence.answers.get("test_save_form") or {})
        saving = saving.get("values") if isinstance(saving, dict) else None
        names = [saving.get(k) for k in ("BASELINE_PATH", "DROPOUT_PATH")] if isinstance(saving, dict) else []
        wanted = {name[:-len(".keras")]: answers / name for name in list_names(answers) if name.endswith(".keras")}
        with tempfile.TemporaryDirectory(prefix="cnnkit-eval-") as folder:
            folder = Path(folder)
            for taken in take_files(student_dir, [n for n in names if isinstance(n, str) and n], folder):
                wanted["saved:" + taken] = folder / taken
            accepted = {}
            for key, path in wanted.items():
                try:
                    evidence.configs[key] = modelfile.read_config(path)
                except modelfile.UnsafeModel as err:
                    evidence.rejected[key] = str(err)
                    continue
                accepted[key] = f"model{len(accepted)}"
                shutil.copyfile(path, folder / f"{accepted[key]}.keras")
            if accepted:
                evidence.measured = self.evaluate(folder, accepted, current)
        if "dropout" in evidence.measured:
            evidence.heldout_labels = _grading_data(current.n_train, current.n_val, current.seed)[3]
        return evidence

    def evaluate(self, folder, accepted, current):
        val_images, val_labels, heldout_images, _ = _grading_data(current.n_train, current.n_val, current.seed)
        np.savez(folder / "inputs.npz", val_images=val_images, val_labels=val_labels,
                 heldout_images=heldout_images)
        predict = [accepted[key] for key in verdicts.PREDICT if key in accepted]
        (folder / "request.json").write_text(json.dumps({"models": list(accepted.values()), "predict": predict}))
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)
        argv = [sys.executable, "-m", "cnnkit_grader.evaluate", str(folder)]
        if sandbox.enabled():
            argv = sandbox.command(argv, readonly=[folder], with_data=False, memory=EVALUATOR_MEMORY)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.evaluate_timeout)
            results = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            results = None
        if not isinstance(results, dict):
            self.log.error("evaluating the models failed: %s", locals().get("done") and done.stderr[-2000:])
            why = {"error": "the grader could not evaluate this model within its time and memory limits"}
            return {key: why for key in accepted}
        return {key: results.get(name, {"error": "not evaluated"}) for key, name in accepted.items()}

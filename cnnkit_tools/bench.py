"""Benchmark the reference submission; prints figures, asserts nothing.

    python -m cnnkit_tools.bench [--skip-student]

1. Autogrades the reference with the real grading budget (nbgrader autograde), timing the
   wall clock and sampling the Jupyter kernel's resident memory every 0.2 s.
2. Measures the held-out accuracy of the model that graded notebook saved.
3. Runs the solved source notebook top to bottom on a fresh kernel with the student budget.
"""

import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from . import course, submissions
from cnnkit.budget import BUDGETS
from cnnkit_grader.thresholds import heldout_threshold

GIB = 1024 ** 3


class PeakKernelMemory:
    """Largest resident set size seen in any process started while active whose command
    line mentions ``marker``: the student's kernel by default, or the sandboxed evaluator."""

    def __init__(self, interval=0.2, marker="ipykernel"):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.marker = marker
        self._before = {p.pid for p in psutil.process_iter()}

    def _kernels(self):
        for process in psutil.process_iter(["pid", "cmdline"]):
            if process.info["pid"] not in self._before and \
                    any(self.marker in part for part in process.info["cmdline"] or ()):
                yield process

    def _watch(self):
        while not self._stop.is_set():
            for process in self._kernels():
                try:
                    self.peak = max(self.peak, process.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def grade_reference(workdir):
    directory = course.copy_course(Path(workdir) / "course")
    course.generate_release(directory)
    submissions.write(submissions.reference(*submissions.source_and_release(directory)),
                      directory, "reference")
    with PeakKernelMemory() as memory, PeakKernelMemory(marker="cnnkit_grader.evaluate") as evaluator:
        started = time.monotonic()
        course.autograde(directory, "reference", CNNKIT_BUDGET="")
        seconds = time.monotonic() - started
    got = course.scores(directory, "reference")
    return directory, seconds, (memory.peak, evaluator.peak), got


def heldout_of_saved_model(directory):
    import keras

    from cnnkit.checks import heldout_accuracy

    saved = course.autograded_notebook(directory, "reference").parent / "cifar_model_dropout.keras"
    return heldout_accuracy(keras.saving.load_model(saved, safe_mode=True))


def run_solved_notebook(workdir):
    import os

    from nbclient import NotebookClient

    source, _ = submissions.source_and_release(course.ROOT)
    nb = submissions.read(source)
    env_budget = os.environ.pop("CNNKIT_BUDGET", None)
    os.environ.pop("NBGRADER_EXECUTION", None)
    try:
        started = time.monotonic()
        NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(workdir)}}).execute()
        return time.monotonic() - started
    finally:
        if env_budget is not None:
            os.environ["CNNKIT_BUDGET"] = env_budget


def main(argv=()):
    grading, student = BUDGETS["grading"], BUDGETS["student"]
    with tempfile.TemporaryDirectory(prefix="cnnkit-bench-") as workdir:
        print(f"grading budget: {grading.n_train} images x {grading.epochs} epochs "
              f"(threshold {heldout_threshold(grading.name)})", flush=True)
        directory, seconds, peak, got = grade_reference(workdir)
        score = sum(s for s, _ in got.values())
        print(f"autograde wall time (reference, grading budget): {seconds:.1f} s", flush=True)
        print(f"kernel peak memory (RSS): {peak[0] / GIB:.2f} GiB; sandboxed evaluator's: "
              f"{peak[1] / GIB:.2f} GiB", flush=True)
        print(f"autograded score: {score:g} / {sum(m for _, m in got.values()):g}", flush=True)
        accuracy = heldout_of_saved_model(directory)
        print(f"held-out accuracy (reference, grading budget): {accuracy:.4f} "
              f"(margin {accuracy - heldout_threshold(grading.name):+.4f} over the threshold)", flush=True)
        if "--skip-student" not in argv:
            print(f"student budget: {student.n_train} images x {student.epochs} epochs", flush=True)
            solved = run_solved_notebook(workdir)
            print(f"solved notebook, top to bottom on a fresh kernel (student budget): {solved:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])

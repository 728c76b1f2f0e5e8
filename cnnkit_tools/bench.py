"""Benchmark grading one submission; prints figures, asserts nothing.

    python -m cnnkit_tools.bench [--pairs N] [--skip-student]
    python -m cnnkit_tools.bench --class N [...]     (a class: cnnkit_tools.grade.bench)
    python -m cnnkit_tools.bench --on-submit N [...] (grading on submit: cnnkit_tools.onsubmit.bench)

1. Autogrades the reference with the real grading budget (``nbgrader autograde``), timing the
   wall clock and sampling the peak resident memory of the student's kernel, the probe and the
   measurement every 0.2 s; prints every phase the pipeline recorded.
2. Autogrades the untouched release the same way: the grader recognises it and runs nothing
   (phase "untouched release: nothing run").
3. Times the dropout model's training inside grading against a bare ``model.fit`` on the same
   data, side by side, N pairs, as a ratio: both read Keras's own per-epoch ms/step.
4. Runs the solved source notebook top to bottom on a fresh kernel with the student budget,
   with its kernel's peak memory.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnkit.budget import BUDGETS
from cnnkit_grader.judge.thresholds import heldout_threshold

from . import course, submissions
from .memory import PeakByMarker

GIB = 1024 ** 3
MARKERS = {"kernel": "ipykernel", "probe": "cnnkit_grader.inside.probe", "measure": "cnnkit_grader.inside.measure"}
STEP = re.compile(r"(\d+)/\d+ - \S+ - (\d+)(ms|s)/step")


def fit_seconds(text):
    """Seconds of training that Keras's verbose=2 lines report (steps x time per step)."""
    return sum(int(steps) * int(amount) / (1000 if unit == "ms" else 1) for steps, amount, unit in STEP.findall(text))


def grade(workdir, student, nb):
    directory = course.copy_course(Path(workdir) / student)
    course.generate_release(directory)
    submissions.write(nb, directory, student)
    with PeakByMarker(MARKERS) as memory:
        started = time.monotonic()
        course.autograde(directory, student, CNNKIT_BUDGET="")
        seconds = time.monotonic() - started
    graded = submissions.read(course.autograded_notebook(directory, student))
    return {"dir": directory, "seconds": seconds, "peak": memory.peak, "scores": course.scores(directory, student),
            "meta": graded.metadata.get("cnnkit", {}), "nb": graded}


def dropout_fit_in_grading(graded_nb):
    cell = next(c for c in graded_nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "dropout")
    return fit_seconds("".join(o.get("text", "") for o in cell.outputs))


BARE_FIT = """
import os, sys
os.environ["CNNKIT_BUDGET"] = "grading"
import keras
from cnnkit import budget, data
b = budget.current()
(x, y), (vx, vy) = data.load_training_split(b.n_train, b.n_val, seed=b.seed)
keras.utils.set_random_seed(b.seed)
inputs = keras.Input((32, 32, 3))
h = keras.layers.Conv2D(50, 3, activation="relu")(inputs)
h = keras.layers.MaxPooling2D()(h)
h = keras.layers.Conv2D(50, 3, activation="relu")(h)
h = keras.layers.MaxPooling2D()(h)
h = keras.layers.Conv2D(50, 3, activation="relu")(h)
h = keras.layers.Dropout(0.2)(h)
h = keras.layers.Dense(50, activation="relu")(keras.layers.Flatten()(h))
model = keras.Model(inputs, keras.layers.Dense(10)(h))
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(x, y, epochs=b.epochs, batch_size=b.batch_size, validation_data=(vx, vy), verbose=2)
"""


def bare_fit():
    done = subprocess.run([sys.executable, "-c", BARE_FIT], capture_output=True, text=True,
                          env=course.environment(TF_CPP_MIN_LOG_LEVEL=3))
    printed = done.stdout + done.stderr
    if done.returncode != 0 or not fit_seconds(printed):
        raise RuntimeError("the bare fit failed:\n" + printed[-2000:])
    return fit_seconds(printed)


def run_solved_notebook(workdir):
    import os

    from nbclient import NotebookClient

    source, _ = submissions.source_and_release(course.ROOT)
    nb = submissions.read(source)
    saved = {k: os.environ.pop(k, None) for k in ("CNNKIT_BUDGET", "NBGRADER_EXECUTION")}
    try:
        with PeakByMarker({"kernel": "ipykernel"}) as memory:
            started = time.monotonic()
            NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(workdir)}}).execute()
            return time.monotonic() - started, memory.peak["kernel"]
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def print_phases(meta):
    print("    phase                seconds   start")
    for phase in meta.get("phases", []):
        print(f"    {phase['phase']:<20} {phase['seconds']:7.1f} {phase['start']:7.1f}")


def main(argv=()):
    if any(a == "--on-submit" or a.startswith("--on-submit=") for a in argv):
        from .onsubmit import bench as onsubmit_bench  # grading on submit (docs/onsubmit.md)
        return onsubmit_bench.main(list(argv))
    if any(a == "--class" or a.startswith("--class=") for a in argv):
        from .grade import bench as class_bench  # a whole class, serial vs pool vs Dask (docs/scale.md)
        return class_bench.main(list(argv))
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1, help="pairs of bare fit / fit in grading to time")
    parser.add_argument("--skip-student", action="store_true", help="skip the solved notebook's student-budget run")
    args = parser.parse_args(argv)
    grading, student = BUDGETS["grading"], BUDGETS["student"]
    source, release = submissions.source_and_release(course.ROOT)
    with tempfile.TemporaryDirectory(prefix="cnnkit-bench-") as workdir:
        print(f"grading budget: {grading.n_train} images x {grading.epochs} epochs "
              f"(threshold {heldout_threshold(grading.name)})", flush=True)
        ratios = []
        for pair in range(args.pairs):
            bare = bare_fit()
            ref = grade(Path(workdir) / f"pair{pair}", "reference", submissions.reference(source, release))
            inside = dropout_fit_in_grading(ref["nb"])
            ratios.append(inside / bare if bare else float("nan"))
            print(f"pair {pair + 1}: dropout model's fit {inside:.1f} s in grading, {bare:.1f} s bare "
                  f"(ratio {ratios[-1]:.3f}); autograde {ref['seconds']:.1f} s", flush=True)
        score = sum(s for s, _ in ref["scores"].values())
        print(f"autograde wall time (reference, grading budget): {ref['seconds']:.1f} s; "
              f"score {score:g} / {sum(m for _, m in ref['scores'].values()):g}", flush=True)
        print("peak memory (RSS): " + ", ".join(f"{name} {peak / GIB:.2f} GiB" for name, peak in ref["peak"].items()))
        print_phases(ref["meta"])
        print(f"fit in grading / bare fit: median {sorted(ratios)[len(ratios) // 2]:.3f} over {len(ratios)} pair(s)")
        blank = grade(workdir, "untouched", submissions.read(release))
        print(f"autograde wall time (untouched release): {blank['seconds']:.1f} s; peak kernel "
              f"{blank['peak']['kernel'] / GIB:.2f} GiB", flush=True)
        print_phases(blank["meta"])
        if not args.skip_student:
            print(f"student budget: {student.n_train} images x {student.epochs} epochs", flush=True)
            seconds, peak = run_solved_notebook(workdir)
            print(f"solved notebook, top to bottom on a fresh kernel (student budget): {seconds:.1f} s; "
                  f"peak kernel {peak / GIB:.2f} GiB")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

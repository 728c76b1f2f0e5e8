"""Benchmark grading one submission; prints figures, asserts nothing.

    python -m cnnkit_tools.bench [--pairs N] [--skip-student]
    python -m cnnkit_tools.bench --class N [...]     (a class: cnnkit_tools.grade.bench)
    python -m cnnkit_tools.bench --on-submit N [...] (grading on submit: cnnkit_tools.onsubmit.bench)
    python -m cnnkit_tools.bench --against ROOT [...] (another checkout's grader, in turn: cnnkit_tools.pairs)

Side by side, in one run (``--pairs N`` repeats it; medians are reported):

1. The training the grading budget needs, done bare in a fresh process (``fitbench``): with the
   kit's settings for TensorFlow, and with Keras's and TensorFlow's defaults.
2. The reference autograded with the real grading budget (``nbgrader autograde``): wall clock,
   the peak resident memory of the student's kernel, the probe and the measurement (sampled
   every 0.2 s), and every phase the pipeline recorded.
3. The untouched release autograded the same way: the grader recognises it and runs nothing
   (phase "untouched release: nothing run").
4. The solved source notebook top to bottom on a fresh kernel with the student budget, with its
   kernel's peak memory (``--skip-student`` skips it).

It prints images/s against the ceiling numpy's sgemm sets on this machine, and ends with one
line: ``bench: grading/bare-fit R1, kit-fit/keras-default-fit R2, untouched/reference R3,
student kernel peak G GiB``.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from cnnkit.budget import BUDGETS
from cnnkit_grader.judge.tasks import grade_id
from cnnkit_grader.judge.thresholds import heldout_threshold

from . import course, fitbench, submissions
from .memory import PeakByMarker, student_env

GIB = 1024 ** 3
MARKERS = {"kernel": "ipykernel", "probe": "cnnkit_grader.inside.probe", "measure": "cnnkit_grader.inside.measure"}
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
    cell = next(c for c in graded_nb.cells if grade_id(c) == "dropout")
    return fitbench.fit_seconds("".join(o.get("text", "") for o in cell.outputs))


def run_solved_notebook(workdir):
    from nbclient import NotebookClient

    source, _ = submissions.source_and_release(course.ROOT)
    nb = submissions.read(source)
    with PeakByMarker({"kernel": "ipykernel"}) as memory:
        started = time.monotonic()
        NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(workdir)}}).execute(env=student_env())
        return time.monotonic() - started, memory.peak["kernel"]


def print_phases(meta):
    print("    phase                seconds   start")
    for phase in meta.get("phases", []):
        print(f"    {phase['phase']:<20} {phase['seconds']:7.1f} {phase['start']:7.1f}")


def main(argv=()):
    if any(a == "--on-submit" or a.startswith("--on-submit=") for a in argv):
        from .onsubmit import bench as onsubmit_bench  # grading on submit (docs/onsubmit.md)
        return onsubmit_bench.main(list(argv))
    if any(a == "--against" or a.startswith("--against=") for a in argv):
        from . import pairs  # this kit's grader against another checkout's, alternately
        return pairs.main(list(argv))
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
        ceiling = fitbench.sgemm_gflops()
        rows = []
        for pair in range(args.pairs):
            # Side by side, in one run: the bare training with the kit's settings and with the
            # defaults, then the reference's whole autograde and the untouched release's.
            kit = fitbench.bare(grading.name, fitbench.kit_env())
            default = fitbench.bare(grading.name, fitbench.default_env())
            ref = grade(Path(workdir) / f"pair{pair}", "reference", submissions.reference(source, release))
            blank = grade(Path(workdir) / f"pair{pair}", "untouched", submissions.read(release))
            inside = dropout_fit_in_grading(ref["nb"])
            rows.append({"r1": ref["seconds"] / kit["seconds"], "r2": kit["seconds"] / default["seconds"],
                         "r3": blank["seconds"] / ref["seconds"],
                         "fit": inside / kit["dropout_keras_seconds"], "kit": kit})
            print(f"pair {pair + 1}: bare training {kit['seconds']:.1f} s (kit's settings), "
                  f"{default['seconds']:.1f} s (defaults); autograde {ref['seconds']:.1f} s (reference), "
                  f"{blank['seconds']:.1f} s (untouched); dropout model's fit {inside:.1f} s in grading, "
                  f"{kit['dropout_keras_seconds']:.1f} s bare", flush=True)
        score = sum(s for s, _ in ref["scores"].values())
        print(f"autograde wall time (reference, grading budget): {ref['seconds']:.1f} s; "
              f"score {score:g} / {sum(m for _, m in ref['scores'].values()):g}", flush=True)
        print("peak memory (RSS): " + ", ".join(f"{name} {peak / GIB:.2f} GiB" for name, peak in ref["peak"].items()))
        print_phases(ref["meta"])
        print(f"autograde wall time (untouched release): {blank['seconds']:.1f} s; peak kernel "
              f"{blank['peak']['kernel'] / GIB:.2f} GiB", flush=True)
        print_phases(blank["meta"])
        peak_gib = None
        if not args.skip_student:
            print(f"student budget: {student.n_train} images x {student.epochs} epochs", flush=True)
            seconds, peak = run_solved_notebook(workdir)
            peak_gib = peak / GIB
            print(f"solved notebook, top to bottom on a fresh kernel (student budget): {seconds:.1f} s; "
                  f"peak kernel {peak_gib:.2f} GiB")
        median = {key: sorted(row[key] for row in rows)[len(rows) // 2] for key in ("r1", "r2", "r3", "fit")}
        kit = rows[-1]["kit"]
        images_per_second = kit["dropout_images"] / kit["dropout_seconds"]
        most = ceiling * 1e9 / kit["train_flops_per_image"]
        print(f"fit in grading / bare fit (Keras's ms/step): {median['fit']:.3f}")
        print(f"training: {images_per_second:.0f} images/s (Part G's fit, bare, kit's settings); sgemm "
              f"{ceiling:.0f} GFLOP/s at {kit['train_flops_per_image'] / 1e6:.1f} MFLOP an image is a ceiling "
              f"of {most:.0f} images/s: {images_per_second / most:.0%} of it")
        print(f"(medians over {len(rows)} pair(s))")
        print(fitbench.summary_line(median["r1"], median["r2"], median["r3"], peak_gib))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The reference graded by two kit checkouts in turn, in one run: what a change to the grader saves.

    python -m cnnkit_tools.bench --against ROOT [--budget smoke] [--rounds 4]

ROOT is another checkout of the kit (a ``git worktree`` of the commit before, say). Each round
autogrades the reference once with ROOT's grader and once with this kit's, each in a course
folder of its own, and alternates which goes first: this machine's speed moves twofold between
hours, and a slower hour then weighs on both alike. Both course folders share one secret, so
both draw the same fresh inputs. Only the grader differs (its config and ``cnnkit_grader``): the
students' package ``cnnkit`` is this environment's for both. Prints each grading's wall time,
score and main phases, then the means. Figures only; it asserts nothing.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from cnnkit_grader.boundary import fresh

from . import course, submissions

PHASES = ("setup", "part G", "part H", "measure")


def grade_once(directory, budget):
    started = time.monotonic()
    course.autograde(directory, "reference", CNNKIT_BUDGET=budget)
    seconds = time.monotonic() - started
    graded = submissions.read(course.autograded_notebook(directory, "reference"))
    phases = {p["phase"]: p["seconds"] for p in graded.metadata.get("cnnkit", {}).get("phases", [])}
    score = sum(s for s, _ in course.scores(directory, "reference").values())
    return seconds, score, phases


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.bench --against ROOT", description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, help="another kit checkout, graded first in odd rounds")
    parser.add_argument("--budget", default="smoke", help="the training budget to grade with (default: smoke)")
    parser.add_argument("--rounds", type=int, default=4, help="gradings per checkout")
    args = parser.parse_args(argv)
    roots = {"before": Path(args.against).resolve(), "after": course.ROOT}
    missing = [name for name in course.CODE_FILES if not (roots["before"] / name).exists()]
    if missing:
        parser.error(f"{roots['before']} is not a checkout of this kit: it has no {', '.join(missing)}")
    if course.code_root(roots["before"]) != roots["before"]:
        # As root, nbgrader runs only code that root alone can change (course.code_root).
        parser.error(f"{roots['before']}'s grader is not root's alone (an owner or a writable mode): as root "
                     "this kit would grade with its own code instead. Check it out as root (git worktree).")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    source, release = submissions.source_and_release(course.ROOT)
    rows = {name: [] for name in roots}
    with tempfile.TemporaryDirectory(prefix="cnnkit-pairs-") as workdir:
        folders = {}
        fresh.course_secret(workdir)  # one secret (0600) for both: the same fresh inputs
        for name, root in roots.items():
            folders[name] = course.copy_course(Path(workdir) / name, root=root)
            shutil.copy2(Path(workdir) / fresh.SECRET_FILE, folders[name] / fresh.SECRET_FILE)
            course.generate_release(folders[name])
            submissions.write(submissions.reference(source, release), folders[name], "reference")
        print(f"{'round':>5} {'grader':<7} {'seconds':>7} {'score':>5}" + "".join(f" {p:>8}" for p in PHASES), flush=True)
        for n in range(args.rounds):
            for name in (list(roots) if n % 2 == 0 else list(roots)[::-1]):
                seconds, score, phases = grade_once(folders[name], args.budget)
                rows[name].append((seconds, phases))
                print(f"{n + 1:>5} {name:<7} {seconds:7.1f} {score:5g}"
                      + "".join(f" {phases.get(p, 0):8.1f}" for p in PHASES), flush=True)
    for name, found in rows.items():
        mean = {p: sum(ph.get(p, 0) for _, ph in found) / len(found) for p in PHASES}
        print(f"{'mean':>5} {name:<7} {sum(s for s, _ in found) / len(found):7.1f} {'':>5}"
              + "".join(f" {mean[p]:8.1f}" for p in PHASES))
    print(f"(before: {roots['before']}; after: {roots['after']}; budget {args.budget}; {args.rounds} round(s))")

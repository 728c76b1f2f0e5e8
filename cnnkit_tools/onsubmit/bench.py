"""Benchmark grading on submit; prints figures, asserts nothing.

    ./kit bench --on-submit N [--budget grading|smoke] [--workers W]

A private course and nbgrader exchange in a temporary folder; N students submit the reference
notebook at once with their own ``nbgrader submit``; the service (``python -m
cnnkit_tools.onsubmit``, as the hub runs it) grades and releases them. Each submission's
submit-to-feedback time runs from its ``timestamp.txt`` (nbgrader's, at submit) to its
release in the ledger, split into the phases the ledger records: waiting (submit to claim),
grading (claim to grades recorded) and release (feedback generated and released). Prints
p50, p95 and the maximum of each, and how far the ETA the service's page showed each
submission when it was first queued was from the real time (``--warmup`` submissions are
graded first, so the ETA has a history, as on a hub that has run a while).
"""

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from .. import submissions
from ..grade import engine as engines, outcome as outcomes
from . import board, ledger
from .rehearsal import Exchange

TIMEOUT = 3600


def percentile(values, share):
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def grading_phases(url):
    """{student: "phase seconds, ..."} from the grading record (cnnkit_outcome): where a
    submission's grading time went, the notebook's own phases included."""
    bind = outcomes.engine(url)
    try:
        return {row.student: ", ".join(f"{p['phase']} {float(p['seconds']):.1f}" for p in row.phases)
                for row in outcomes.read(bind)}
    finally:
        bind.dispose()


def summary(rows):
    """Lines of p50, p95 and max for the total and each phase, in seconds."""
    phases = [row.phases() for row in rows]
    columns = {"submit to feedback": [sum(p.values()) for p in phases]}
    columns.update({name: [p[name] for p in phases] for name in ("waiting", "grading", "release")})
    lines = [f"{'':<20}{'p50':>8}{'p95':>8}{'max':>8}"]
    for name, values in columns.items():
        lines.append(f"{name:<20}" + "".join(f"{percentile(values, q):>7.1f}s" for q in (0.5, 0.95)) +
                     f"{max(values):>7.1f}s")
    return lines


def wait_until_released(world, service, students, watch=None):
    """Poll the ledger until every one of ``students`` is released (or refused, or a grader
    error); ``watch(rows)`` sees each poll. Returns the rows, or None if the service died."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        rows = [r for r in world.rows() if r.student in students]
        if watch:
            watch(rows)
        done = [r for r in rows if r.released_at or r.state in ("grader_error", "refused")]
        if len(done) == len(students):
            return rows
        if service.poll() is not None or time.monotonic() > deadline:
            print(service.log.read_text()[-4000:], file=sys.stderr)
            return None
        time.sleep(1)


class EtaWatch:
    """The ETA the service's page shows each submission when it first appears in the queue
    (``board.etas``), kept to compare with when its feedback really came out."""

    def __init__(self, workers, history):
        self.workers, self.history, self.first = workers, history, {}

    def __call__(self, rows):
        now = ledger.parse(ledger.now())
        for row_id, (_, seconds) in board.etas(self.history() + rows, self.workers).items():
            if row_id not in self.first and any(r.id == row_id for r in rows):
                self.first[row_id] = (now, now.timestamp() + seconds)

    def errors(self, rows):
        """{student: (ETA shown s, real s, error as a share of the real time)}."""
        found = {}
        for row in rows:
            if row.id in self.first and row.released_at:
                seen, predicted = self.first[row.id]
                real = ledger.parse(row.released_at).timestamp() - seen.timestamp()
                shown = predicted - seen.timestamp()
                found[row.student] = (shown, real, abs(shown - real) / real if real > 0 else float("inf"))
        return found


def main(argv=()):
    parser = argparse.ArgumentParser(prog="./kit bench --on-submit", description=__doc__.split("\n")[0])
    parser.add_argument("--on-submit", type=int, required=True, metavar="N", help="submissions at once")
    parser.add_argument("--budget", default="grading", choices=("grading", "smoke"))
    parser.add_argument("--workers", type=int, default=engines.default_workers())
    parser.add_argument("--warmup", type=int, default=1,
                        help="submissions graded first, so the ETA has a history (not in the figures)")
    args = parser.parse_args(list(argv))
    env = {"CNNKIT_BUDGET": args.budget, "CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "0",
           "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0"}
    with tempfile.TemporaryDirectory(prefix="cnnkit-bench-onsubmit-") as workdir:
        world = Exchange(workdir, env)
        reference = submissions.reference(*submissions.source_and_release(world.course))
        warm = [f"warmup{i + 1:02d}" for i in range(args.warmup)]
        students = [f"student{i + 1:02d}" for i in range(args.on_submit)]
        service = world.start_service("service", "--workers", str(args.workers))
        try:
            for student in warm:
                world.submit(student, reference)
            if warm:
                history = wait_until_released(world, service, warm)
                if history is None:
                    return 1
                for row in history:
                    print(f"{row.student} (graded alone, before): " + ", ".join(
                        f"{name} {seconds:.1f} s" for name, seconds in row.phases().items() if seconds is not None))
            watch = EtaWatch(args.workers, lambda: [r for r in world.rows() if r.student in warm])
            with ThreadPoolExecutor(len(students)) as pool:
                list(pool.map(lambda s: world.submit(s, reference), students))
            print(f"{len(students)} submitted at once (the reference, {args.budget} budget); "
                  f"{args.workers} worker(s); {len(warm)} graded before", flush=True)
            rows = wait_until_released(world, service, students, watch)
            if rows is None:
                return 1
        finally:
            if service.poll() is None:
                os.killpg(service.pid, signal.SIGTERM)
                service.wait(timeout=120)
        released = [r for r in rows if r.released_at]
        errors = watch.errors(released)
        graded = grading_phases(world.url)
        for row in sorted(released, key=lambda r: r.released_at):
            phases = row.phases()
            eta = errors.get(row.student)
            print(f"{row.student}: {row.state} {row.score:g}/{row.max_score:g}; " +
                  ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()) +
                  (f"; ETA shown {eta[0]:.0f} s, real {eta[1]:.0f} s ({eta[2]:.0%} off)" if eta else ""), flush=True)
            if graded.get(row.student):
                print(f"  its grading: {graded[row.student]}", flush=True)
        if len(released) < len(students):
            print(f"not released: {[(r.student, r.state, r.message) for r in rows if not r.released_at]}")
        if released:
            print("\n".join(summary(released)))
        if errors:
            off = [e for _, _, e in errors.values()]
            print(f"ETA error (|shown - real| / real): median {percentile(off, 0.5):.0%}, max {max(off):.0%}")
    return 0 if len(released) == len(students) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

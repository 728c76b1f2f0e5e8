"""Benchmark grading on submit; prints figures, asserts nothing.

    ./kit bench --on-submit N [--budget grading|smoke] [--workers W]

A private course and nbgrader exchange in a temporary folder; N students submit the reference
notebook at once with their own ``nbgrader submit``; the service (``python -m
cnnkit_tools.onsubmit``, as the hub runs it) grades and releases them. Each submission's
submit-to-feedback time runs from its ``timestamp.txt`` (nbgrader's, at submit) to its
release in the ledger, split into the phases the ledger records: waiting (submit to claim),
grading (claim to grades recorded) and release (feedback generated and released). Prints
p50, p95 and the maximum of each.
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
from ..grade import engine as engines
from .rehearsal import Exchange

TIMEOUT = 3600


def percentile(values, share):
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


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


def main(argv=()):
    parser = argparse.ArgumentParser(prog="./kit bench --on-submit", description=__doc__.split("\n")[0])
    parser.add_argument("--on-submit", type=int, required=True, metavar="N", help="submissions at once")
    parser.add_argument("--budget", default="grading", choices=("grading", "smoke"))
    parser.add_argument("--workers", type=int, default=engines.default_workers())
    args = parser.parse_args(list(argv))
    env = {"CNNKIT_BUDGET": args.budget, "CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "0",
           "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0"}
    with tempfile.TemporaryDirectory(prefix="cnnkit-bench-onsubmit-") as workdir:
        world = Exchange(workdir, env)
        reference = submissions.reference(*submissions.source_and_release(world.course))
        students = [f"student{i + 1:02d}" for i in range(args.on_submit)]
        service = world.start_service("service", "--workers", str(args.workers))
        try:
            with ThreadPoolExecutor(len(students)) as pool:
                list(pool.map(lambda s: world.submit(s, reference), students))
            print(f"{len(students)} submitted at once (the reference, {args.budget} budget); "
                  f"{args.workers} worker(s)", flush=True)
            deadline = time.monotonic() + TIMEOUT
            while True:
                rows = world.rows()
                done = [r for r in rows if r.released_at or r.state in ("grader_error", "refused")]
                if len(done) == len(students):
                    break
                if service.poll() is not None or time.monotonic() > deadline:
                    print(service.log.read_text()[-4000:], file=sys.stderr)
                    return 1
                time.sleep(1)
        finally:
            if service.poll() is None:
                os.killpg(service.pid, signal.SIGTERM)
                service.wait(timeout=120)
        released = [r for r in rows if r.released_at]
        for row in sorted(released, key=lambda r: r.released_at):
            phases = row.phases()
            print(f"{row.student}: {row.state} {row.score:g}/{row.max_score:g}; " +
                  ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()), flush=True)
        if len(released) < len(students):
            print(f"not released: {[(r.student, r.state, r.message) for r in rows if not r.released_at]}")
        if released:
            print("\n".join(summary(released)))
    return 0 if len(released) == len(students) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``python -m cnnkit_tools.onsubmit COURSE_DIR ASSIGNMENT [--once] [--interval S]``: grade on submit.

Run it from anywhere; nbgrader's commands run in COURSE_DIR, so its nbgrader_config.py (the
exchange, the gradebook, the safe collector) applies. ``--status`` prints the ledger instead.
"""

import argparse
import signal
import sys
import threading

from . import service


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.onsubmit", description=__doc__.splitlines()[0])
    parser.add_argument("course_dir")
    parser.add_argument("assignment")
    parser.add_argument("--once", action="store_true", help="one pass: collect, grade all queued, release; then exit")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes (default 10)")
    parser.add_argument("--workers", type=int, help="local pool's workers (default: one per core)")
    parser.add_argument("--scheduler", help="an existing Dask scheduler, tls://HOST:PORT (docs/scale.md)")
    parser.add_argument("--status", action="store_true", help="print the ledger of the assignment and exit")
    args = parser.parse_args(argv)
    if args.status:
        service.status(args.course_dir, args.assignment)
        return 0
    # SIGTERM (a hub stopping its service) and Ctrl-C unwind: the engine's workers are closed; a
    # grading in flight stays ``grading`` in the ledger (``stop`` tells the service a failure now
    # is the stop's doing) and the next start requeues it.
    stop = threading.Event()

    def stopping(signum, frame):
        stop.set()
        if signum == signal.SIGTERM:
            sys.exit(143)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        service.run(args.course_dir, args.assignment, once=args.once, interval=args.interval,
                    workers=args.workers, scheduler=args.scheduler, stop=stop)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

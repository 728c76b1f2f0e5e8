"""``./kit grade ASSIGNMENT``: autograde every submission, several at a time.

    ./kit grade compile_and_train [--workers N] [--threads T] [--student ID ...] [--force]
                                  [--scheduler tls://HOST:PORT [--tls-ca F --tls-cert F --tls-key F]]
                                  [--course DIR]

Each submission is graded by the real ``nbgrader autograde`` in a private course folder on
a worker; this process alone writes the gradebook, ``autograded/`` and ``cnnkit_outcome``.
The gradebook is $NBGRADER_DB_URL if set (SQLite or PostgreSQL), else the course's
gradebook.db. Exit status: 0 when every submission was graded (faults included), 1 when
any ended in a grader error, 2 when it refused to start (an insecure or unchecked cluster).
"""

import argparse
import sys
from pathlib import Path

from . import batch, outcome as outcomes, tls
from .progress import Progress, results_table, summary_table


def parser():
    p = argparse.ArgumentParser(prog="./kit grade", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment")
    p.add_argument("--workers", type=int, default=None,
                   help="local pool size (default: one per CPU core)")
    p.add_argument("--threads", type=int, default=1,
                   help="TensorFlow threads per submission, CNNKIT_THREADS (default 1)")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing dask cluster with TLS, e.g. tls://10.0.0.5:8786; "
                        "checked for the client's kit and the data before anything is sent "
                        "(docs/scale.md)")
    for role, flag in tls.FLAGS.items():
        p.add_argument(flag, default=None, metavar="PEM",
                       help=f"with --scheduler tls://: the {dict(ca='CA certificate', cert='client certificate', key='client key')[role]} "
                            f"(default: ${tls.SETTINGS[role]})")
    p.add_argument(tls.INSECURE_FLAG, action="store_true",
                   help=f"allow a plain tcp:// --scheduler. Insecure: {tls.PLAIN_TCP_EXPOSES}")
    p.add_argument("--student", nargs="+", action="extend", default=[],
                   help="only these students (default: every folder in submitted/)")
    p.add_argument("--force", action="store_true",
                   help="regrade submissions already graded since they were submitted")
    p.add_argument("--course", type=Path, default=None, help="course folder (default: this kit)")
    return p


def main(argv=None):
    from .. import course as kit_course

    args = parser().parse_args(argv)
    course_dir = (args.course or kit_course.ROOT).resolve()
    progress = Progress()
    tls_files = {"ca": args.tls_ca, "cert": args.tls_cert, "key": args.tls_key}
    try:
        try:
            report = batch.grade(course_dir, args.assignment, students=args.student or None,
                                 workers=args.workers, scheduler=args.scheduler, force=args.force,
                                 threads=args.threads, progress=progress, tls_files=tls_files,
                                 insecure_plain_tcp=args.insecure_plain_tcp)
        finally:
            progress.stop()
    except tls.Refused as refusal:  # nothing was graded: say what to fix
        print(f"./kit grade: {refusal}", file=sys.stderr)
        return 2
    console = progress.console
    if report.skipped:
        console.print(f"skipped {len(report.skipped)} already graded since last submitted "
                      f"(--force regrades): {', '.join(report.skipped)}")
    if report.rows:
        console.print(results_table(report.rows, report.scores))
        rate = len(report.rows) / report.seconds * 3600 if report.seconds else 0
        console.print(f"{len(report.rows)} graded in {report.seconds:.0f} s on {report.mode} "
                      f"({rate:.0f} submissions/hour)")
    bind = outcomes.engine(batch.db_url(course_dir))
    try:
        for table in summary_table(outcomes.read(bind, args.assignment)):
            console.print(table)
    finally:
        bind.dispose()
    return 1 if any(row.outcome == "grader_error" for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())

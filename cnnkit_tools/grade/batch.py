"""Grade a class: choose what to grade, run the tasks, record each result as it arrives.

Resuming: a submission whose ``cnnkit_outcome`` row says it was graded (graded, fault or
unreadable: the grading itself finished) from the same submission (same nbgrader
timestamp) and whose autograded notebook is still there is skipped, unless ``force``. A
grader error is never skipped: it was not graded.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cnnkit import settings
from cnnkit_grader.boundary.intake import make_private

from . import engine as engines, job as jobs_, outcome as outcomes, record as recorder, tls

FINISHED = {"graded", "fault", "unreadable"}


def _bin_on_path():
    """nbgrader's Gradebook starts ``alembic`` by name: this interpreter's bin comes first."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def db_url(course_dir):
    """The gradebook nbgrader uses for this course: $NBGRADER_DB_URL, else gradebook.db."""
    return settings.gradebook_url(course_dir)


def ensure_assignment(course_dir, assignment, url):
    """A gradebook without the assignment (a fresh clone: gradebook.db is not committed) gets
    its definition from ``nbgrader generate_assignment``, as serial grading would need first;
    its release goes to a scratch folder, so the course's release/ stays as it is."""
    import tempfile

    from nbgrader.api import Gradebook, MissingEntry

    from .. import course as kit_course

    with Gradebook(url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
            return False
        except MissingEntry:
            pass
    print(f"the gradebook has no assignment {assignment!r} yet: defining it with nbgrader "
          "generate_assignment (release/ is left as it is)", flush=True)
    with tempfile.TemporaryDirectory(prefix="cnnkit-release-") as scratch:
        kit_course.nbgrader(course_dir, "generate_assignment", assignment, "--force",
                            f"--CourseDirectory.release_directory={scratch}",
                            NBGRADER_DB_URL=url, PYTHONPATH=jobs_._pythonpath())
    return True


def to_skip(bind, course_dir, assignment, submissions):
    """Students whose current submission is already graded (see the module's docstring)."""
    done = {row.student: row for row in outcomes.read(bind, assignment)}
    skip = set()
    for student, submission in submissions.items():
        row = done.get(student)
        if row and row.outcome in FINISHED and row.submitted_at == submission.submitted_at \
                and recorder.autograded_folder(course_dir, assignment, student).is_dir():
            skip.add(student)
    return skip


@dataclass
class Report:
    """What a batch did: its rows, in the order they finished, and how long it took."""
    mode: str
    rows: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    seconds: float = 0.0                           # all of it, start-up included
    setup_seconds: float = 0.0                     # template gradebook and workers' start-up
    peak_rss: dict = field(default_factory=dict)   # student -> peak bytes of its grading
    scores: dict = field(default_factory=dict)     # student -> (score, max) autograded


def _failure_result(own, failure, shared):
    return {"assignment": shared["assignment"], "student": own["student"],
            "submitted_at": own.get("submitted_at"), "error": (failure.kind, failure.detail),
            "worker": None, "seconds": None}


def _score(result):
    total = maximum = 0.0
    for saved in ((result.get("grades") or {}).get("notebooks") or {}).values():
        for grade in saved["grades"].values():
            if grade["cell_type"] == "code":
                total += grade["auto_score"] or 0.0
                maximum += grade["max_score"] or 0.0
    return total, maximum


def grade(course_dir, assignment, students=None, workers=None, scheduler=None, force=False,
          threads=1, progress=None, engine=None, fn=None, tls_files=None, insecure_plain_tcp=False):
    """Grade the class; return a Report. ``progress`` (progress.Progress) shows it live;
    ``engine`` reuses an open Engine (the benchmark), else one is made and closed here.
    ``tls_files`` ({"ca", "cert", "key"} paths, else the CNNKIT_GRADE_TLS_* settings) and
    ``insecure_plain_tcp`` decide how to reach ``scheduler`` (tls.for_scheduler); raises
    tls.Refused before anything is graded when that, or the cluster check, fails."""
    security = None
    if scheduler and engine is None:
        security = tls.for_scheduler(scheduler, insecure_plain_tcp=insecure_plain_tcp, **(tls_files or {}))
    _bin_on_path()
    course_dir = Path(course_dir).resolve()
    url = db_url(course_dir)
    submissions = jobs_.find_submissions(course_dir, assignment, students)
    # Before the gradebook is written (its journal takes its mode); autograded/ is made only
    # once there is something to grade and the engine (a cluster's check included) is up.
    make_private(course_dir, url, create=False)
    ensure_assignment(course_dir, assignment, url)
    make_private(course_dir, url, create=False)  # a gradebook made just now
    bind = outcomes.engine(url)
    outcomes.ensure(bind)
    skipped = set() if force else to_skip(bind, course_dir, assignment, submissions)
    todo = {s: sub for s, sub in submissions.items() if s not in skipped}
    started = time.monotonic()
    report = Report(mode="")
    report.skipped = sorted(skipped)
    if not todo:
        report.mode = "nothing to grade"
        return report
    # The template gradebook (nbgrader generate_assignment, seconds) is made while the
    # workers start.
    with ThreadPoolExecutor(1) as background:
        making = background.submit(jobs_.make_jobs, course_dir, assignment, todo, url, threads=threads)
        own_engine = engine is None
        try:
            engine = engine or engines.Engine(scheduler=scheduler, workers=workers, security=security)
        finally:
            shared, jobs = making.result()
    make_private(course_dir, url)
    refused = [job for job in jobs if "refused" in job]
    runnable = [job for job in jobs if "refused" not in job]
    report.mode = engine.mode
    report.setup_seconds = time.monotonic() - started
    if progress:
        progress.start(len(jobs), engine.mode)
    try:
        for own in refused:
            failure = engines.Failure("too_large", own["refused"])
            _keep(report, progress, recorder.record(course_dir, url, bind,
                                                    _failure_result(own, failure, shared)))
        for own, result, attempts in engine.run(shared, runnable, fn=fn):
            if isinstance(result, engines.Failure):
                result = _failure_result(own, result, shared)
            report.peak_rss[own["student"]] = result.get("peak_rss", 0)
            report.scores[own["student"]] = _score(result)
            try:
                row = recorder.record(course_dir, url, bind, result, attempts=attempts)
            except Exception as error:  # noqa: BLE001 - one submission's failure stops no batch
                failure = engines.Failure("record_failed", f"{type(error).__name__}: {error}")
                row = recorder.record(course_dir, url, bind, _failure_result(own, failure, shared),
                                      attempts=attempts)
            _keep(report, progress, row, report.scores[own["student"]])
    finally:
        if own_engine:
            engine.close()
        bind.dispose()
    report.seconds = time.monotonic() - started
    return report


def _keep(report, progress, row, score=(0.0, 0.0)):
    report.rows.append(row)
    if progress:
        progress.advance(row, score)

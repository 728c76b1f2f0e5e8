"""The client's side of a task: what one submission's grading needs, as data.

Every task of a batch shares the course part: what ``course.copy_course`` copies (the
course's ``nbgrader_config.py`` and ``source/``: nbgrader autograde copies the source's
data files next to the notebook), the assignment's ``release/`` folder (the grader reads
it), and a template gradebook that holds only the assignment's definition (its notebooks,
cells, points, checksums and due date: nbgrader restores test cells from it). The template
is made once per batch by the real ``nbgrader generate_assignment`` in a scratch copy of
the course, so a worker's private gradebook defines the assignment exactly as the real one
does, without the worker ever opening the real one.
"""

import datetime
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cnnkit import settings

from .. import course as kit_course
from . import files, task


@dataclass(frozen=True)
class Submission:
    student: str
    folder: Path
    submitted_at: str | None


def find_submissions(course_dir, assignment, students=None):
    """The submissions in submitted/*/ASSIGNMENT/, by student id (sorted), optionally only
    the given students. A student named but without a submission raises."""
    root = Path(course_dir) / "submitted"
    found = {}
    for folder in sorted(root.glob(f"*/{assignment}")):
        if folder.is_dir():
            student = folder.parent.name
            found[student] = Submission(student, folder, files.submitted_at(folder))
    if students:
        missing = sorted(set(students) - set(found))
        if missing:
            raise SystemExit(f"no submission of {assignment} in {root} for: {', '.join(missing)}")
        found = {s: found[s] for s in sorted(set(students))}
    return found


def course_part(course_dir, assignment, db_url):
    """What every task gets of the course, as data: the files of ``course.copy_course`` (the
    config and source/), the assignment's release/ folder, SQLite bytes of a gradebook that
    holds only the assignment's definition, and the real gradebook's due date (ISO 8601, or
    None) that this template carries, so late penalties come out the same.

    The course's own release/ is kept when it has one (it is what students got, and the grader
    compares submissions with it)."""
    from nbgrader.api import Gradebook, MissingEntry

    course_dir = Path(course_dir)
    _course_secret(course_dir)
    with Gradebook(db_url) as real:
        try:
            duedate = real.find_assignment(assignment).duedate
        except MissingEntry:
            duedate = None
    duedate = duedate.isoformat() if duedate is not None else None
    with tempfile.TemporaryDirectory(prefix="cnnkit-template-") as scratch:
        scratch = kit_course.copy_course(Path(scratch) / "course", root=course_dir)
        gradebook = template_gradebook(scratch, assignment, duedate)
        packed = files.pack(scratch, ignore=settings.COPY_IGNORE)
        del packed["gradebook.db"]
        released = course_dir / "release" / assignment
        if released.is_dir():
            packed = {name: value for name, value in packed.items()
                      if not name.startswith(f"release/{assignment}/")}
            packed.update({f"release/{assignment}/{name}": value
                           for name, value in files.pack(released, ignore=settings.COPY_IGNORE).items()})
        return packed, gradebook, duedate


def template_gradebook(folder, assignment, duedate):
    """SQLite bytes of a gradebook that holds only the assignment's definition: ``nbgrader
    generate_assignment`` in ``folder`` (a scratch course: its config, source/; release/ is
    written there), then the due date (ISO 8601, or None). ``folder/gradebook.db`` is made."""
    from nbgrader.api import Gradebook

    url = settings.gradebook_url(folder, environ={})  # folder/gradebook.db
    log = kit_course.nbgrader(folder, "generate_assignment", assignment, "--force",
                              NBGRADER_DB_URL=url, PYTHONPATH=_pythonpath()).stdout
    if task.CONFIG_FAILED in log:
        raise RuntimeError(f"nbgrader could not load {folder}/nbgrader_config.py:\n"
                           + task._tail(log, after=task.CONFIG_FAILED))
    if duedate is not None:
        with Gradebook(url) as template:
            template.update_or_create_assignment(assignment, duedate=datetime.datetime.fromisoformat(duedate))
    return (Path(folder) / "gradebook.db").read_bytes()


def _course_secret(course_dir):
    """The pipeline seeds each student's fresh inputs from a secret kept in the course folder,
    made on first use. Made here, in the real course, before its files are packed: otherwise
    every private course would make its own, and a student's inputs would depend on where the
    task ran instead of matching a serial regrade. (A grader without one: nothing to do.)"""
    try:
        from cnnkit_grader.boundary import fresh
    except ImportError:
        return
    fresh.course_secret(course_dir)


def _pythonpath():
    return os.pathsep.join(p for p in (str(task.KIT_ROOT), os.environ.get("PYTHONPATH")) if p)


def shared_environment(environ=os.environ):
    """The settings a job carries, so a worker on another machine grades by the client's rules
    (the budget, the cell timeout): the settings table's ``travels`` column, by exact name.
    What describes one machine (whether and as whom to sandbox, threads, paths) stays there."""
    return {name: value for name, value in environ.items() if name in settings.TRAVELLING}


def make_jobs(course_dir, assignment, submissions, db_url, threads=1, timeout=None):
    """What every task shares (made once, sent with each task), and one job per submission.

    A submission's files that nbgrader would not copy anyway (its ignore list and the kit's
    model files: models must come from the grading run) stay behind."""
    course, gradebook, duedate = course_part(course_dir, assignment, db_url)
    shared = {"assignment": assignment, "course": course, "gradebook": gradebook, "duedate": duedate,
              "env": shared_environment(), "threads": threads,
              # the grader's code comes from the worker's kit unless the course folder carries it
              "kit_digest": None if any(n.startswith(task.GRADER_PACKAGE + "/") for n in course)
              else task.kit_digest(),
              "timeout": timeout or int(os.environ.get("CNNKIT_GRADE_TIMEOUT", task.DEFAULT_TIMEOUT))}
    jobs = []
    for submission in submissions.values():
        job = {"student": submission.student, "key": f"grade-{assignment}-{submission.student}",
               "submitted_at": submission.submitted_at}
        try:
            job["submission"] = files.pack(submission.folder, ignore=settings.COPY_IGNORE)
        except files.TooLarge as error:
            job["refused"] = str(error)
        jobs.append(job)
    return shared, jobs

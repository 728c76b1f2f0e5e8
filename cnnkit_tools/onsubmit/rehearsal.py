"""A course rehearsed on one machine: a private nbgrader exchange, students' homes and the
on-submit service, all under one folder; what the benchmark and the tests drive."""

import subprocess
import sys
from pathlib import Path

import nbformat

from cnnkit import settings

from .. import course, submissions
from . import ledger

COURSE_ID = settings.default("NBGRADER_COURSE_ID")   # nbgrader_config.py's CourseDirectory.course_id


class Exchange:
    """A course, a private exchange and students' homes under ``root``; what each side runs."""

    def __init__(self, root, env):
        self.root = Path(root)
        self.course = course.copy_course(self.root / "course")
        self.exchange = self.root / "exchange"
        self.exchange.mkdir()
        self.exchange.chmod(0o1777)
        self.env = {**env, "NBGRADER_EXCHANGE_ROOT": str(self.exchange), "PYTHONPATH": str(course.ROOT)}
        self.url = course.db_url(self.course)
        course.generate_release(self.course, **self.env)
        course.nbgrader(self.course, "release_assignment", submissions.ASSIGNMENT, "--force", **self.env)
        self.services = []

    def student_args(self, student):
        return ["--student", student, "--course", COURSE_ID, f"--Exchange.root={self.exchange}",
                f"--Exchange.cache={self.root / 'cache' / student}"]

    def home(self, student):
        return self.root / "home" / student

    def submit(self, student, nb):
        """The student's own ``nbgrader submit`` of their copy of the assignment."""
        folder = self.home(student) / submissions.ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / submissions.NOTEBOOK)
        return course.nbgrader(self.home(student), "submit", submissions.ASSIGNMENT, *self.student_args(student))

    def fetch_feedback(self, student):
        course.nbgrader(self.home(student), "fetch_feedback", submissions.ASSIGNMENT, *self.student_args(student))
        name = Path(submissions.NOTEBOOK).stem
        return sorted((self.home(student) / submissions.ASSIGNMENT / "feedback").glob(f"*/{name}.html"))

    def start_service(self, name, *args):
        """``python -m cnnkit_tools.onsubmit`` in its own process group (its pool dies with it)."""
        log = self.root / f"{name}.log"
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "cnnkit_tools.onsubmit", str(self.course), submissions.ASSIGNMENT,
                 "--interval", "2", *args],
                cwd=self.root, env=course.environment(**self.env), stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True)
        process.log = log
        self.services.append(process)
        return process

    def rows(self, student=None):
        bind = ledger.engine(self.url)
        try:
            ledger.ensure(bind)
            return ledger.rows(bind, submissions.ASSIGNMENT, student)
        finally:
            bind.dispose()

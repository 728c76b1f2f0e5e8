"""The on-submit service: collect, queue, grade, record, release, in a loop.

Each pass (``Service.step``):

1. ``nbgrader collect --update``: the course's nbgrader_config.py installs the kit's safe
   collector; ``--update`` replaces submitted/STUDENT/ASSIGNMENT/ with a newer submission.
2. Every submission in submitted/ is put in the ledger (``ledger.enqueue``: seen again, it
   changes nothing; new, the policy may refuse it; queued, it supersedes the student's older
   queued or grading rows).
3. Queued rows are claimed (as many as the engine has workers, so ``grading`` means it) and
   graded by the kit's class-grading pipeline (``cnnkit_tools.grade.batch.grade``) on one
   ``Engine`` kept open for the service's life: the local pool, or a Dask cluster over TLS.
   On the local pool a batch smaller than the pool shares its cores (``engine.threads_each``):
   a lone submission trains with two TensorFlow threads on two cores, not one.
   The pipeline records grades in the gradebook and the ``cnnkit_outcome`` row, then the
   ledger row is finished (graded, fault, grader_error) by a conditional update.
4. Finished rows that are still the student's current submission get that student's
   feedback generated and released (``generate_feedback``/``release_feedback --student``),
   then ``released_at`` is set, once.

Collecting runs only between batches, never while one is graded: the grading pipeline reads
a submission's folder while it packs its task, and ``collect --update`` replaces that folder.

Why killed at any point and restarted, each submission is graded once and released once:

- A claim is ``queued -> grading`` in one conditional UPDATE; at start, ``ledger.recover``
  puts rows a killed service left ``grading`` back in the queue.
- A requeued submission whose grading had already been recorded (killed between the record
  and the ledger's update) is not graded again: ``batch.grade`` without ``force`` skips a
  submission whose ``cnnkit_outcome`` row is from the same timestamp, and the ledger then
  finishes the row from that outcome. A grading killed before its record left nothing (the
  pipeline writes the course only as a result arrives), so it is simply graded.
- Releasing is keyed by the submission in nbgrader (the feedback file is named by a hash of
  the submission's secret), so releasing again after a kill between ``release_feedback`` and
  ``mark_released`` rewrites the same file; ``released_at`` is set only where it is unset, so
  the ledger records one release.
- A row superseded while it was graded cannot be finished (it is no longer ``grading``), and
  a finished row with a newer submission in the ledger is never released.

``run`` is what the hub's managed service calls (``web.py``, in a thread beside its pages);
``python -m cnnkit_tools.onsubmit`` is the same loop from a shell.
"""

import sys
import threading
import time
from pathlib import Path

from cnnkit import settings

from .. import course as kit_course
from ..grade import batch, engine as engines, job as jobs_, outcome as outcomes, record, tls
from . import board, ledger
from .policy import Policy

# cnnkit_outcome's outcomes, as ledger states: an unreadable notebook is the student's fault too.
STATE = {"graded": "graded", "fault": "fault", "unreadable": "fault", "grader_error": "grader_error"}
GRADER_ERROR = ("Not graded yet: the grader failed on this submission (not your notebook's fault). "
                "Your instructor has been told and will grade it.")


def say(*parts):
    print(ledger.now(), *parts, flush=True)


class Service:
    """The service's state between passes: the ledger's connection, the policy, the engine."""

    def __init__(self, course_dir, assignment, policy=None, workers=None, scheduler=None,
                 tls_files=None, insecure_plain_tcp=False, engine=None):
        """``engine``: one to grade with instead of a pool of the service's own (the hub's
        service, as the course's account, grades through the root launcher: launcher.Remote)."""
        self.course_dir = Path(course_dir).resolve()
        self.assignment = assignment
        self.url = settings.gradebook_url(self.course_dir)
        self.policy = policy or Policy.from_environment()
        self.workers, self.scheduler = workers, scheduler
        self.tls_files, self.insecure_plain_tcp = tls_files, insecure_plain_tcp
        self.engine = engine
        self.bind = ledger.engine(self.url)
        # Set when the service is being stopped (the hub stopping, Ctrl-C): from then on a
        # grading that fails is the stop's doing, not the submission's or the grader's.
        self.stopping = threading.Event()
        ledger.ensure(self.bind)

    # ---- the passes

    def start(self):
        """Recovery: what a killed service left grading is queued again."""
        count = ledger.recover(self.bind, self.assignment)
        if count:
            say(f"recovered {count} submission(s) left grading by a stopped service")
        return count

    def step(self, drain=False):
        """One pass: collect, queue, grade one batch (every queued row if ``drain``), release."""
        self.collect()
        self.enqueue()
        while self.grade() and drain and not self.stopping.is_set():
            pass
        if not self.stopping.is_set():
            self.release()

    def collect(self):
        try:
            kit_course.nbgrader(self.course_dir, "collect", "--update", self.assignment,
                                PYTHONPATH=jobs_._pythonpath())
        except kit_course.NbgraderError as error:  # the exchange may be briefly unreadable: next pass
            say(f"collect failed: {error}")

    def enqueue(self):
        new = []
        for student, submission in jobs_.find_submissions(self.course_dir, self.assignment).items():
            if not submission.submitted_at:
                continue
            try:
                row, added = ledger.enqueue(self.bind, self.assignment, student, submission.submitted_at,
                                            decide=self.policy.decide)
            except (ValueError, OverflowError) as error:  # a time out of range: that student only
                say(f"not queued {student} {submission.submitted_at}: {error}")
                continue
            if added:
                say(f"{row.state} {student} {row.timestamp}" + (f": {row.message}" if row.message else ""))
                new.append(row)
        return new

    def grade(self):
        """Claim and grade one batch; return the rows claimed (none: the queue is empty)."""
        if not ledger.rows(self.bind, self.assignment, states=("queued",)):
            return []
        engine = self._engine()
        claimed = ledger.claim_queued(self.bind, self.assignment, limit=max(1, engine.workers()))
        folders = jobs_.find_submissions(self.course_dir, self.assignment)
        todo = []
        for row in claimed:
            held = folders.get(row.student)
            if held is None or not held.submitted_at or ledger.stamp(held.submitted_at) != row.timestamp:
                # submitted/ holds another submission now (an instructor's collect): the next
                # pass queues that one; this one can no longer be graded.
                ledger.supersede(self.bind, row.id, "superseded: submitted/ holds another submission")
                say(f"superseded {row.student} {row.timestamp}: submitted/ holds another submission")
                continue
            say(f"grading {row.student} {row.timestamp} (attempt {row.attempts})")
            todo.append(row)
        if not todo:
            return claimed
        try:
            # Not force: a submission whose grading is already recorded (a service killed just
            # after recording it) is not graded a second time (the module's docstring). A batch
            # smaller than the pool shares the machine's cores: one submission alone uses both.
            batch.grade(self.course_dir, self.assignment, students=[row.student for row in todo],
                        engine=engine, threads=engines.threads_each(engine, len(todo)))
        except Exception as error:  # noqa: BLE001 - the service outlives one batch's failure
            say(f"grading failed: {type(error).__name__}: {error}")
        recorded = {row.student: row for row in outcomes.read(self._outcomes(), self.assignment)}
        for row in todo:
            self._finish(row, recorded.get(row.student))
        return claimed

    def _finish(self, row, outcome):
        # The outcome recorded may be of the student's previous submission: this one's only if
        # its timestamp is this row's.
        current = outcome is not None and outcome.submitted_at and ledger.stamp(outcome.submitted_at) == row.timestamp
        if self.stopping.is_set() and (not current or outcome.outcome == "grader_error"):
            # Its grading was ended with the service (a hub restart): leave the row ``grading``,
            # so the next start requeues it and grades it again, rather than a grader error.
            say(f"left grading {row.student} {row.timestamp}: the service is stopping; the next start grades it")
            return
        if not current:
            state, score, message = "grader_error", (None, None), GRADER_ERROR
        else:
            state = STATE[outcome.outcome]
            *score, note = self._score(row.student) if state != "grader_error" else (None, None, None)
            message = {"graded": note, "grader_error": GRADER_ERROR}.get(
                state, f"Your notebook could not be graded in full: {outcome.detail or outcome.outcome}")
        if ledger.finish(self.bind, row.id, state, *score, message=message):
            say(f"{state} {row.student} {row.timestamp}" + (f" {score[0]:g}/{score[1]:g}" if score[0] is not None else ""))
        else:
            say(f"not finished {row.student} {row.timestamp}: superseded while it was graded")

    def release(self):
        """Generate and release the feedback of every finished current submission."""
        released = []
        rows = ledger.releasable(self.bind, self.assignment)
        recorded = {o.student: o for o in outcomes.read(self._outcomes(), self.assignment)} if rows else {}
        for row in rows:
            held = self.policy.held()
            if held:
                if not (row.message or "").startswith(held):  # the hold first, then the grading's note
                    ledger.note(self.bind, row.id, " ".join(filter(None, (held, row.message))))
                continue
            outcome = recorded.get(row.student)
            # The feedback is made from autograded/ and the gradebook: release it only if they
            # hold this very submission (an instructor's regrade of a newer one would not).
            if (outcome is None or not outcome.submitted_at or ledger.stamp(outcome.submitted_at) != row.timestamp
                    or not record.autograded_folder(self.course_dir, self.assignment, row.student).is_dir()):
                continue  # nothing of this submission to show (an unreadable notebook): the message says why
            try:
                for command in (("generate_feedback", "--force"), ("release_feedback",)):
                    kit_course.nbgrader(self.course_dir, command[0], self.assignment, "--student", row.student,
                                        *command[1:], PYTHONPATH=jobs_._pythonpath())
            except kit_course.NbgraderError as error:
                say(f"feedback for {row.student} {row.timestamp} not released: {error}")
                continue
            if ledger.mark_released(self.bind, row.id):
                if row.message and self.policy.feedback_at is not None:
                    # The hold is over: what is left to say is the gradebook's note, as of now.
                    ledger.note(self.bind, row.id, self._score(row.student)[2])
                say(f"released {row.student} {row.timestamp}")
                released.append(row)
        return released

    # ---- helpers

    def _engine(self):
        """One engine for the service's life: starting a pool costs seconds per batch."""
        if self.engine is None:
            security = None
            if self.scheduler:
                security = tls.for_scheduler(self.scheduler, insecure_plain_tcp=self.insecure_plain_tcp,
                                             **(self.tls_files or {}))
            self.engine = engines.Engine(scheduler=self.scheduler, workers=self.workers, security=security)
            say(f"engine: {self.engine.mode}")
        return self.engine

    def _outcomes(self):
        outcomes.ensure(self.bind)
        return self.bind

    def _score(self, student):
        """(score, max score, note) as nbgrader's gradebook holds them now (what the formgrader
        and the feedback show): net of the late penalty, with written answers still to mark
        and the lateness in the note (board.score_and_note)."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.url) as gradebook:
            try:
                submission = gradebook.find_submission(self.assignment, student)
            except MissingEntry:
                return None, None, None
            awaiting = sum(grade.max_score for notebook in submission.notebooks for grade in notebook.grades
                           if grade.needs_manual_grade)
            score, note = board.score_and_note(submission.score, submission.max_score, awaiting,
                                               submission.total_seconds_late, submission.late_submission_penalty)
            return score, submission.max_score, note

    def close(self):
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.bind.dispose()


def run(course_dir, assignment, once=False, interval=10.0, stop=None, **options):
    """Run the service: recover, then a pass every ``interval`` seconds until ``stop`` (a
    threading.Event) is set; ``once``: one pass that grades everything queued, then return.
    ``options``: Service's (policy, workers, scheduler, tls_files, insecure_plain_tcp, engine)."""
    stop = stop or threading.Event()
    service = Service(course_dir, assignment, **options)
    service.stopping = stop
    try:
        service.start()
        say(f"grading {assignment} of {service.course_dir} on submit "
            f"({'once' if once else f'every {interval:g} s'}; {service.policy})")
        while True:
            started = time.monotonic()
            service.step(drain=once)
            if once or stop.wait(max(0.0, interval - (time.monotonic() - started))):
                return service
    finally:
        service.close()


def status(course_dir, assignment, out=sys.stdout):
    """The ledger of one assignment, for an instructor: one line per submission."""
    bind = ledger.engine(settings.gradebook_url(Path(course_dir).resolve()))
    try:
        ledger.ensure(bind)
        for row in ledger.rows(bind, assignment):
            score = f"{row.score:g}/{row.max_score:g}" if row.score is not None else "-"
            phases = " ".join(f"{name} {seconds:.0f}s" for name, seconds in row.phases().items()
                              if seconds is not None)
            out.write(f"{row.student}\t{row.timestamp}\t{row.state}\t{score}\tattempts {row.attempts}\t"
                      f"released {row.released_at or '-'}\t{phases}\t{row.message or ''}\n")
    finally:
        bind.dispose()

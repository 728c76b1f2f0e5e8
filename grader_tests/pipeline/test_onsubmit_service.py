"""Grading on submit, end to end: real exchange, real ``nbgrader submit``, the service as a
subprocess, SIGKILLed mid-grade and restarted.

Two students submit (the reference and the mse_loss mutant) through a private nbgrader
exchange folder. The service (``python -m cnnkit_tools.onsubmit``, one worker, smoke budget)
collects and grades them; while the first is ``grading`` the test SIGKILLs the service's whole
process group (the service and its pool's workers), then starts it again. Every submission
must end graded once, with its scores in the gradebook and its feedback released once into
the exchange, where the student's own ``nbgrader fetch_feedback`` finds it. A further
submission beyond the daily limit (1, for the test) is refused with its message.
Three smoke gradings in all: the killed one, and one per student.
"""

import os
import re
import shutil
import signal
import time

import pytest
from nbgrader.api import Gradebook

from cnnkit_tools import submissions
from cnnkit_tools.lab import mutations
from cnnkit_tools.grade import outcome as outcomes
from cnnkit_tools.onsubmit import ledger, rehearsal

from courses import SMOKE

pytestmark = [pytest.mark.slow, pytest.mark.onsubmit]

ASSIGNMENT, NOTEBOOK = submissions.ASSIGNMENT, submissions.NOTEBOOK
COURSE_ID = rehearsal.COURSE_ID
MSE = next(m for m in mutations.MUTANTS if m.name == "mse_loss")
POLICY = {"CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "1", "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0"}
PORTS = "18160-18179"  # the local pool's, apart from test_grade_class's
DONE_TIMEOUT = 900


def wait_for(condition, what, timeout, service=None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if service is not None and service.poll() is not None:
            raise AssertionError(f"the service exited ({service.returncode}) before {what}:\n"
                                 + service.log.read_text()[-4000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}"
                                 + (f":\n{service.log.read_text()[-4000:]}" if service else ""))
        time.sleep(1)


class World(rehearsal.Exchange):
    """A course, an exchange and students' homes, all in tmp (``rehearsal.Exchange``)."""

    def __init__(self, tmp_path_factory):
        super().__init__(tmp_path_factory.mktemp("onsubmit_world"),
                         {**SMOKE, **POLICY, "CNNKIT_GRADE_PORTS": PORTS})

    def start_service(self, name):
        return super().start_service(name, "--workers", "1")

    def logs(self):
        return "".join(p.log.read_text() for p in self.services)


def kill_group(process, sig=signal.SIGKILL):
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)
    wait_for(lambda: not _group_alive(process.pid), "the service's process group to die", 60)


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def world(tmp_path_factory, cifar_dir):
    world = World(tmp_path_factory)
    yield world
    for process in world.services:
        if process.poll() is None or _group_alive(process.pid):
            kill_group(process, signal.SIGTERM if process.poll() is None else signal.SIGKILL)


@pytest.fixture(scope="module")
def run(world):
    """Two submissions, a SIGKILL mid-grade, a restart, then a submission too many."""
    reference = submissions.reference(*submissions.source_and_release(world.course))
    world.submit("alice", reference)
    world.submit("bo", submissions.apply(reference, MSE))
    first = world.start_service("first")
    grading = wait_for(lambda: [r for r in world.rows() if r.state == "grading" and r.started_at
                                and time.time() - ledger.parse(r.started_at).timestamp() > 25],
                       "a row to be grading for 25 s", 300, first)
    kill_group(first)
    killed = {r.student: r.state for r in world.rows()}
    second = world.start_service("second")

    def both_released():
        rows = world.rows()
        return len(rows) == 2 and all(r.released_at for r in rows) and rows
    wait_for(both_released, "both submissions graded and released", DONE_TIMEOUT, second)
    time.sleep(2)  # a submission after the first ones, on the seconds of nbgrader's timestamps
    world.submit("alice", reference)
    wait_for(lambda: any(r.state == "refused" for r in world.rows("alice")), "alice's third submission refused",
             120, second)
    time.sleep(5)  # a pass or two more: nothing must be graded or released again
    kill_group(second, signal.SIGTERM)
    return {"grading": grading, "killed": killed, "second": second}


def test_killed_mid_grade_every_submission_is_graded_and_released_exactly_once(world, run):
    [grading] = run["grading"]
    assert run["killed"][grading.student] == "grading"  # the SIGKILL hit a grading in flight
    assert "recovered 1 submission(s) left grading by a stopped service" in run["second"].log.read_text()
    logs = world.logs()
    rows = {r.student: [r for r in world.rows(r.student)] for r in world.rows()}
    for student in ("alice", "bo"):
        graded = [r for r in rows[student] if r.state == "graded"]
        assert len(graded) == 1, rows[student]
        row = graded[0]
        assert row.released_at and row.queued_at <= row.started_at <= row.finished_at <= row.released_at
        assert row.attempts == (2 if student == grading.student else 1)
        assert len(re.findall(rf" graded {student} {re.escape(row.timestamp)}", logs)) == 1, logs
        assert len(re.findall(rf" released {student} {re.escape(row.timestamp)}", logs)) == 1, logs
        print(f"\n{student}: {row.phases()}")
    bind = outcomes.engine(world.url)
    recorded = {o.student: o for o in outcomes.read(bind, ASSIGNMENT)}
    bind.dispose()
    assert {s: (o.outcome, o.attempts) for s, o in recorded.items()} == {"alice": ("graded", 1), "bo": ("graded", 1)}


def test_scores_are_in_the_gradebook_and_each_student_fetches_their_feedback(world, run):
    exchange_feedback = sorted((world.exchange / COURSE_ID / "feedback").glob("*.html"))
    assert len(exchange_feedback) == 2, exchange_feedback  # one per graded submission, none for the refused
    with Gradebook(world.url) as gradebook:
        scores = {s: (gradebook.find_submission(ASSIGNMENT, s).score,
                      gradebook.find_submission(ASSIGNMENT, s).max_score) for s in ("alice", "bo")}
    assert scores["alice"][0] > scores["bo"][0] > 0, scores
    for student in ("alice", "bo"):
        [row] = [r for r in world.rows(student) if r.state == "graded"]
        assert (row.score, row.max_score) == scores[student]
        [html] = world.fetch_feedback(student)
        shown = re.search(r"Score: ([\d.]+) / ([\d.]+)", html.read_text()).groups()
        assert tuple(float(x) for x in shown) == scores[student], (student, shown)


def test_a_submission_beyond_the_daily_limit_is_refused_with_its_message(world, run):
    alice = world.rows("alice")
    assert [r.state for r in alice] == ["graded", "refused"]
    graded, refused = alice
    assert refused.message.startswith(
        "Not graded: you have used 1 of your 1 graded attempt in the last 24 hours (the first at "), refused.message
    assert refused.message.endswith(" to be graded."), refused.message
    assert refused.started_at is None and refused.released_at is None and refused.attempts == 0
    with Gradebook(world.url) as gradebook:  # the gradebook still holds the graded submission
        kept = gradebook.find_submission(ASSIGNMENT, "alice").timestamp
    assert ledger.stamp(kept) == graded.timestamp
    assert f"refused alice {refused.timestamp}: Not graded:" in world.logs()
    shutil.rmtree(world.root / "cache", ignore_errors=True)

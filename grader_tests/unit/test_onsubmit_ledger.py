"""The on-submit ledger on a real SQLite file, and the course policy's refusals.

What the service's exactly-once argument rests on: a newer submission supersedes an older
one still to be graded; only one of two connections claims a row; rows a killed service left
``grading`` go back to the queue; a release is recorded once; and a student refused by the
policy is told how many attempts were used and when the next one can be graded.
"""

import datetime
import threading

import pytest
import sqlalchemy as sa

from cnnkit_tools.grade import outcome as outcomes
from cnnkit_tools.onsubmit import ledger, policy, service as services

from grader_tests.ledgers import A, T, race_to_claim, sqlite_ledger


@pytest.fixture
def bind(tmp_path):
    with sqlite_ledger(tmp_path) as engine:
        yield engine


def states(bind, student="ana"):
    return [(row.timestamp[11:16], row.state) for row in ledger.rows(bind, A, student)]


def test_two_processes_that_both_find_the_ledger_missing_both_go_on(tmp_path):
    """The ledger's table made by another process between our check and our CREATE is no error."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    ours, theirs = ledger.engine(url), ledger.engine(url)
    unreachable = ledger.engine(f"sqlite:///{tmp_path / 'missing' / 'gradebook.db'}")
    raced = []

    def they_create_it_first(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith("CREATE TABLE") and not raced:
            raced.append(statement)
            ledger.ensure(theirs)

    sa.event.listen(ours, "before_cursor_execute", they_create_it_first)
    try:
        ledger.ensure(ours)  # found it missing, then lost the race: raised OperationalError before
        assert raced and ledger.rows(ours) == []
        with pytest.raises(sa.exc.OperationalError):  # any other failure is still raised
            ledger.ensure(unreachable)
    finally:
        for bind in (ours, theirs, unreachable):
            bind.dispose()


def test_enqueue_is_idempotent_and_a_newer_submission_supersedes_queued_and_grading(bind):
    first, new = ledger.enqueue(bind, A, "ana", T.format(0))
    assert new and first.state == "queued" and first.attempts == 0
    again, new = ledger.enqueue(bind, A, "ana", "2026-11-20 09:00:00.000000+00:00")
    assert not new and again.id == first.id
    assert ledger.claim(bind, first.id)
    ledger.enqueue(bind, A, "ana", T.format(5))
    ledger.enqueue(bind, A, "ana", T.format(9))
    ledger.enqueue(bind, A, "bo", T.format(1))  # another student's row is left alone
    assert states(bind) == [("09:00", "superseded"), ("09:05", "superseded"), ("09:09", "queued")]
    assert states(bind, "bo") == [("09:01", "queued")]
    assert ledger.get(bind, first.id).message == "superseded by the submission of 2026-11-20T09:05:00.000000+00:00"
    # The superseded grading cannot finish: its grade is never the student's current one.
    assert not ledger.finish(bind, first.id, "graded", 27, 27)
    # A submission collected out of order (older than the newest) is superseded at once.
    late, _ = ledger.enqueue(bind, A, "ana", T.format(7))
    assert late.state == "superseded"
    assert [row.student for row in ledger.claim_queued(bind, A)] == ["ana", "bo"]


def test_two_connections_cannot_both_claim_a_row(tmp_path, bind):
    rows = [ledger.enqueue(bind, A, f"s{n}", T.format(n))[0] for n in range(20)]
    won = race_to_claim(f"sqlite:///{tmp_path / 'gradebook.db'}", rows)
    assert sorted(won[0] + won[1]) == [row.id for row in rows]
    assert not set(won[0]) & set(won[1])
    assert all(row.state == "grading" and row.attempts == 1 for row in ledger.rows(bind, A))


def test_recovery_requeues_what_a_killed_service_left_grading(bind):
    graded, _ = ledger.enqueue(bind, A, "ana", T.format(0))
    killed, _ = ledger.enqueue(bind, A, "bo", T.format(0))
    ledger.enqueue(bind, A, "cy", T.format(0))
    ledger.claim_queued(bind, A, limit=2)
    assert ledger.finish(bind, graded.id, "graded", 20, 27)
    assert ledger.recover(bind, A) == 1
    row = ledger.get(bind, killed.id)
    assert (row.state, row.started_at, row.message) == (
        "queued", None, "requeued: the service stopped while grading it")
    assert ledger.get(bind, graded.id).state == "graded"
    # claimed again, it counts its second attempt
    assert [r.student for r in ledger.claim_queued(bind, A)] == ["bo", "cy"]
    assert ledger.get(bind, killed.id).attempts == 2
    assert ledger.recover(bind, A) == 2 and ledger.recover(bind, A) == 0


def test_a_release_is_recorded_once_and_only_for_the_current_submission(bind):
    row, _ = ledger.enqueue(bind, A, "ana", T.format(0))
    assert ledger.releasable(bind, A) == []  # queued: nothing to release
    ledger.claim(bind, row.id)
    assert not ledger.mark_released(bind, row.id)  # grading: no feedback yet
    ledger.finish(bind, row.id, "graded", 20, 27)
    assert [r.id for r in ledger.releasable(bind, A)] == [row.id]
    assert ledger.mark_released(bind, row.id, at="2026-11-20T09:03:00+00:00")
    assert not ledger.mark_released(bind, row.id)
    assert ledger.get(bind, row.id).released_at == "2026-11-20T09:03:00+00:00"
    assert ledger.releasable(bind, A) == []
    # A graded submission with a newer one queued is not released: its grade is outdated.
    second, _ = ledger.enqueue(bind, A, "ana", T.format(20))
    ledger.claim(bind, second.id)
    ledger.finish(bind, second.id, "graded", 27, 27)
    ledger.enqueue(bind, A, "ana", T.format(40))
    assert ledger.releasable(bind, A) == []


def test_phases_give_the_latency_of_each_step(bind):
    row, _ = ledger.enqueue(bind, A, "ana", T.format(0), at="2026-11-20T09:00:05+00:00")
    ledger.claim(bind, row.id, at="2026-11-20T09:00:30+00:00")
    ledger.finish(bind, row.id, "graded", 27, 27, at="2026-11-20T09:01:15+00:00")
    ledger.mark_released(bind, row.id, at="2026-11-20T09:01:20+00:00")
    assert ledger.get(bind, row.id).phases() == {"waiting": 30.0, "grading": 45.0, "release": 5.0}


def enqueue_at(bind, decide, minute, state="graded", student="ana"):
    """Submit at 09:MM (minutes may pass 59) and, if queued, finish it as ``state``."""
    stamp = datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=minute)
    row, _ = ledger.enqueue(bind, A, student, stamp, decide=decide)
    if row.state == "queued":
        ledger.claim(bind, row.id)
        ledger.finish(bind, row.id, state)
    return ledger.get(bind, row.id)


def test_the_daily_limit_refuses_with_the_attempts_used_and_when_to_come_back(bind):
    decide = policy.Policy(attempts_per_day=3, cooldown_minutes=10).decide
    for minute in (0, 20):
        assert enqueue_at(bind, decide, minute).state == "graded"
    assert enqueue_at(bind, decide, 30, state="grader_error").state == "grader_error"  # not counted
    assert enqueue_at(bind, decide, 40).state == "graded"
    refused = enqueue_at(bind, decide, 61)
    assert refused.state == "refused" and refused.finished_at
    assert refused.message == ("Not graded: you have used 3 of your 3 graded attempts in the last 24 hours "
                               "(the first at 2026-11-20 09:00 UTC). Submit again from 2026-11-21 09:00 UTC "
                               "to be graded.")
    assert enqueue_at(bind, decide, 24 * 60).state == "graded"  # the first is a day old
    assert [state for _, state in states(bind)] == [
        "graded", "graded", "grader_error", "graded", "refused", "graded"]


def test_the_cool_down_refuses_with_the_time_of_the_next_graded_attempt(bind):
    decide = policy.Policy(attempts_per_day=5, cooldown_minutes=10).decide
    assert enqueue_at(bind, decide, 0).state == "graded"
    refused = enqueue_at(bind, decide, 9.5)
    assert refused.message == ("Not graded: graded attempts must be at least 10 minutes apart, and your "
                               "last one was submitted at 2026-11-20 09:00 UTC. Submit again from "
                               "2026-11-20 09:10 UTC to be graded.")
    assert enqueue_at(bind, decide, 10).state == "graded"
    # Another student's attempts are theirs.
    assert enqueue_at(bind, decide, 11, student="bo").state == "graded"


def test_a_queued_submission_is_not_an_attempt_it_is_superseded(bind):
    decide = policy.Policy(attempts_per_day=1, cooldown_minutes=10).decide
    first, _ = ledger.enqueue(bind, A, "ana", T.format(0), decide=decide)
    second, _ = ledger.enqueue(bind, A, "ana", T.format(2), decide=decide)
    assert (ledger.get(bind, first.id).state, second.state) == ("superseded", "queued")
    ledger.claim(bind, second.id)
    third, _ = ledger.enqueue(bind, A, "ana", T.format(59), decide=decide)
    assert third.state == "refused" and "used 1 of your 1 graded attempt in" in third.message
    assert ledger.get(bind, second.id).state == "grading"  # a refused submission supersedes nothing


def test_policy_from_the_environment_and_held_feedback():
    assert policy.Policy.from_environment({}) == policy.Policy(3, 10.0, None)
    env = {"CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "0", "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0.5",
           "CNNKIT_ONSUBMIT_FEEDBACK_AT": "2026-12-01T17:00:00+01:00"}
    held = policy.Policy.from_environment(env)
    assert (held.attempts_per_day, held.cooldown_minutes) == (0, 0.5)
    assert held.held("2026-12-01T15:59:00+00:00") == "Graded. Your feedback will be released from 2026-12-01 16:00 UTC."
    assert held.held("2026-12-01T16:00:00+00:00") is None
    assert policy.Policy().held() is None
    with pytest.raises(ValueError, match="CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY='three'"):
        policy.Policy.from_environment({"CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "three"})
    # no limit at all: never refused
    unlimited = policy.Policy(attempts_per_day=0, cooldown_minutes=0)
    rows = [ledger.Row(n, A, "ana", T.format(n), "graded", T.format(n)) for n in range(10)]
    assert unlimited.decide(rows, T.format(10)) is None


# ---- the service's passes, with the grading and nbgrader's commands stood in for (the slow
# test, grader_tests/pipeline/test_onsubmit_service.py, runs them for real)


class FakeEngine:
    mode = "fake"
    local = True

    def workers(self):
        return 2

    def close(self):
        pass


def hand_in(course_dir, student, when):
    """What nbgrader collect leaves: submitted/STUDENT/A/ with its timestamp.txt."""
    folder = course_dir / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timestamp.txt").write_text(when)
    (course_dir / "autograded" / student / A).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def svc(tmp_path, monkeypatch):
    monkeypatch.delenv("NBGRADER_DB_URL", raising=False)
    commands = []
    monkeypatch.setattr(services.kit_course, "nbgrader", lambda cwd, *args, **env: commands.append(args))
    monkeypatch.setattr(services.Service, "_engine", lambda self: FakeEngine())
    monkeypatch.setattr(services.Service, "_score", lambda self, student: (20.0, 27.0, None))
    service = services.Service(tmp_path, A, policy=policy.Policy(attempts_per_day=0, cooldown_minutes=0))
    service.commands = commands
    yield service
    service.close()


def record_grading(service, student, submitted_at):
    outcomes.upsert(service.bind, outcomes.Outcome(assignment=A, student=student, outcome="graded",
                                                   submitted_at=submitted_at))


def test_the_service_grades_without_force_and_releases_once(svc, tmp_path, monkeypatch):
    hand_in(tmp_path, "ana", "2026-11-20 09:00:00.000000 UTC")
    calls = []

    def grade(course_dir, assignment, students, **options):
        calls.append((students, options))
        record_grading(svc, "ana", "2026-11-20T09:00:00+00:00")

    monkeypatch.setattr(services.batch, "grade", grade)
    svc.step()
    svc.step()  # nothing new: nothing graded or released again
    assert [students for students, _ in calls] == [["ana"]]
    assert "force" not in calls[0][1]  # a grading recorded before a kill is skipped, not redone
    assert svc.commands == [("collect", "--update", A), ("generate_feedback", A, "--student", "ana", "--force"),
                            ("release_feedback", A, "--student", "ana"), ("collect", "--update", A)]
    [row] = ledger.rows(svc.bind, A)
    assert (row.state, row.score, row.max_score, row.attempts) == ("graded", 20.0, 27.0, 1)
    assert row.released_at


@pytest.mark.parametrize("local, students, threads", [(True, ["ana"], 2), (True, ["ana", "ben"], 1),
                                                      (False, ["ana"], 1)])
def test_a_lone_submission_trains_on_every_core_of_the_pool_and_a_pair_shares_them(
        svc, tmp_path, monkeypatch, local, students, threads):
    """On a 2-core pool, one submission gets TensorFlow 2 threads, two get 1 each; a cluster's 1."""
    monkeypatch.setattr(services.engines, "default_workers", lambda: 2)
    monkeypatch.setattr(FakeEngine, "local", local)
    for minute, student in enumerate(students):
        hand_in(tmp_path, student, f"2026-11-20 09:0{minute}:00.000000 UTC")
    calls = []
    monkeypatch.setattr(services.batch, "grade", lambda course_dir, assignment, students, **options:
                        calls.append((students, options["threads"])))
    svc.step()
    assert calls == [(students, threads)]


def test_a_grade_superseded_mid_grade_is_never_released(svc, tmp_path, monkeypatch):
    hand_in(tmp_path, "ana", "2026-11-20 09:00:00.000000 UTC")

    def grade(course_dir, assignment, students, **options):
        # While ana's first submission is graded, her second arrives (an instructor's collect).
        hand_in(tmp_path, "ana", "2026-11-20 09:30:00.000000 UTC")
        svc.enqueue()
        record_grading(svc, "ana", "2026-11-20T09:00:00+00:00")

    monkeypatch.setattr(services.batch, "grade", grade)
    svc.collect = lambda: None
    svc.enqueue()
    svc.grade()
    svc.release()
    first, second = ledger.rows(svc.bind, A, "ana")
    assert (first.state, first.released_at, second.state) == ("superseded", None, "queued")
    assert not any(command[0] == "release_feedback" for command in svc.commands)


def test_a_recovered_grading_already_recorded_is_finished_from_its_record(svc, tmp_path, monkeypatch):
    hand_in(tmp_path, "ana", "2026-11-20 09:00:00.000000 UTC")
    svc.enqueue()
    ledger.claim_queued(svc.bind, A)  # the service that claimed it was killed after recording
    record_grading(svc, "ana", "2026-11-20T09:00:00+00:00")
    monkeypatch.setattr(services.batch, "grade", lambda *a, **k: None)  # batch.grade skips it
    assert svc.start() == 1
    svc.grade()
    [row] = ledger.rows(svc.bind, A)
    assert (row.state, row.attempts) == ("graded", 2)


def test_a_grading_ended_by_the_service_stopping_stays_grading_for_the_next_start(svc, tmp_path, monkeypatch):
    """A hub restart ends the pool's workers with the service: the grader error they leave is the
    stop's doing, so the row is left ``grading`` (requeued on the next start), never finished."""
    hand_in(tmp_path, "ana", "2026-11-20 09:00:00.000000 UTC")

    def grade(course_dir, assignment, students, **options):
        svc.stopping.set()   # the hub's SIGINT arrives while the batch grades
        outcomes.upsert(svc.bind, outcomes.Outcome(assignment=A, student="ana", outcome="grader_error",
                                                   submitted_at="2026-11-20T09:00:00+00:00"))

    monkeypatch.setattr(services.batch, "grade", grade)
    svc.step()
    [row] = ledger.rows(svc.bind, A)
    assert (row.state, row.finished_at, row.released_at) == ("grading", None, None)
    assert [c for c in svc.commands if c[0] != "collect"] == []   # nothing released while stopping
    assert ledger.recover(svc.bind, A) == 1 and ledger.rows(svc.bind, A)[0].state == "queued"


def test_a_time_at_the_end_of_the_calendar_stops_no_one_elses_queueing(svc, tmp_path):
    """A student whose last graded attempt sits at the calendar's end (the cool-down's next
    time would overflow) is not queued; the pass goes on and queues everyone else."""
    svc.policy = policy.Policy(attempts_per_day=3, cooldown_minutes=10)
    last = datetime.datetime(9999, 12, 31, 23, 55, tzinfo=datetime.timezone.utc)
    row, _ = ledger.enqueue(svc.bind, A, "zed", last, decide=svc.policy.decide)
    ledger.claim(svc.bind, row.id)
    ledger.finish(svc.bind, row.id, "graded")
    hand_in(tmp_path, "zed", "9999-12-31 23:59:00.000000 UTC")
    hand_in(tmp_path, "ana", "2026-11-20 09:00:00.000000 UTC")
    svc.enqueue()
    assert [r.state for r in ledger.rows(svc.bind, A, "ana")] == ["queued"]
    assert len(ledger.rows(svc.bind, A, "zed")) == 1


@pytest.mark.parametrize("stopping, state", [(True, "grading"), (False, "grader_error")])
def test_a_grading_cut_short_by_a_stop_is_left_for_the_next_start_even_after_a_graded_one(bind, stopping, state):
    """A student's earlier submission was graded; their new one is cut short by a hub restart
    (the launcher ends, no outcome of its own). Stopping, the row stays ``grading`` for the
    next start to grade again, whatever the outcome table holds of the earlier submission;
    not stopping, it is a grader error."""
    row, _ = ledger.enqueue(bind, A, "s", T.format(5), at=T.format(5))
    assert ledger.claim(bind, row.id, at=T.format(6))
    service = services.Service.__new__(services.Service)  # only what _finish reads: the ledger and the stop
    service.bind, service.stopping = bind, threading.Event()
    if stopping:
        service.stopping.set()
    service._finish(ledger.rows(bind, A, "s")[0], outcomes.Outcome(A, "s", "graded", submitted_at=T.format(1)))
    assert ledger.rows(bind, A, "s")[0].state == state

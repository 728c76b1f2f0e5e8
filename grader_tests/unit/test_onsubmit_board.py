"""What the on-submit service's pages show, from the ledger: a student's view holds their own
rows only; places in the queue and ETAs follow the service's batches; attempts left follow
the policy's 24 hours; the instructor's view has the queue, throughput and faults."""

import datetime

import pytest

from cnnkit_tools.onsubmit import board, ledger, policy

from grader_tests.ledgers import A, T, sqlite_ledger


@pytest.fixture
def bind(tmp_path):
    with sqlite_ledger(tmp_path) as engine:
        yield engine


def graded(bind, student, minute, seconds):
    """A submission of ``student`` at minute, graded in ``seconds`` and released 10 s later."""
    row, _ = ledger.enqueue(bind, A, student, T.format(minute), at=T.format(minute))
    start = ledger.parse(T.format(minute + 1))
    ledger.claim(bind, row.id, at=ledger.iso(start))
    end = start.replace(second=seconds % 60, minute=start.minute + seconds // 60)
    ledger.finish(bind, row.id, "graded", 7.0, 10.0, at=ledger.iso(end))
    ledger.mark_released(bind, row.id, at=ledger.iso(end.replace(second=end.second + 10)))
    return row


def test_a_students_view_holds_their_rows_only_with_places_etas_and_attempts_left(bind):
    graded(bind, "ana", 0, 60)
    graded(bind, "ben", 2, 120)           # alone: 90 s on average, release 10 s
    for student, minute in (("cat", 10), ("dan", 11), ("ana", 12)):
        ledger.enqueue(bind, A, student, T.format(minute), at=T.format(minute))
    rows = ledger.rows(bind, A)
    rules = policy.Policy(attempts_per_day=3, cooldown_minutes=0)
    view = board.mine(rows, "ana", rules, workers=2, at=T.format(13))
    assert {s["timestamp"][11:16] for s in view["submissions"]} == {"09:00", "09:12"}
    newest, first = view["submissions"]
    # cat and dan go first, side by side (90 s scaled for two), their releases, the pass, then ana
    first_batch = 90 * (1 + board.CONTENTION) + 2 * 10 + board.DEFAULT_GAP
    assert (newest["state"], newest["place"], newest["eta_seconds"]) == ("queued", 3, round(first_batch + 90 + 10))
    assert (first["state"], first["score"], first["place"]) == ("graded", 7.0, None)
    assert view["attempts_left"] == 2 and view["queue_length"] == 3
    assert "ben" not in repr(view) and "cat" not in repr(view)
    assert board.mine(rows, "ana", rules, workers=2, at="2026-11-21T09:01:00+00:00")["attempts_left"] == 3
    assert board.mine(rows, "ana", policy.Policy(attempts_per_day=0), workers=2)["attempts_left"] is None


def test_a_grading_row_counts_down_and_the_instructor_sees_the_course(bind):
    graded(bind, "ana", 0, 100)
    row, _ = ledger.enqueue(bind, A, "ben", T.format(5), at=T.format(5))
    ledger.claim(bind, row.id, at=T.format(6))
    bad, _ = ledger.enqueue(bind, A, "cat", T.format(7), at=T.format(7))
    ledger.claim(bind, bad.id, at=T.format(7))
    ledger.finish(bind, bad.id, "fault", 2.0, 10.0, message="no", at=T.format(8))
    rows = ledger.rows(bind, A)
    (place, eta) = board.etas(rows, 1, at="2026-11-20T09:06:30+00:00")[row.id]
    assert place == 0 and eta == pytest.approx((100 + 60) / 2 - 30 + 10)
    view = board.course(rows, policy.Policy(), workers=1, at=T.format(9))
    assert [e["student"] for e in view["grading"]] == ["ben"]
    assert [e["student"] for e in view["faults"]] == ["cat"]
    assert view["throughput"]["graded_last_hour"] == 2 and view["counts"]["grading"] == 1


def test_the_score_shown_is_net_of_the_late_penalty_and_says_what_awaits_the_instructor():
    assert board.score_and_note(27.0, 31.0) == (27.0, None)
    score, note = board.score_and_note(27.0, 31.0, awaiting=4.0)
    assert score == 27.0
    assert note == "4 points of 31 (written answers) await your instructor; they count as 0 until they are marked."
    score, note = board.score_and_note(27.0, 31.0, awaiting=4.0, seconds_late=3 * 3600 + 5 * 60, penalty=27.0)
    assert score == 0.0
    assert note.endswith("Submitted 3 hours 5 minutes after the due date: the late penalty took 27 points.")
    assert board.score_and_note(20.0, 31.0, seconds_late=90_000)[1] == (
        "Submitted 1 day 1 hour after the due date (no penalty).")


def test_etas_learn_each_batch_size_the_release_steps_and_the_gap_from_the_ledger(bind):
    """A burst after a history of batches of two and one: the running batch counts down, each
    release is one step after the last, and the next batch starts a learnt gap after them."""
    at = lambda minute, second=0: ledger.iso(ledger.parse(T.format(minute)) + datetime.timedelta(seconds=second))
    for student in ("a", "b", "c"):
        ledger.enqueue(bind, A, student, T.format(0), at=T.format(0))
    pair = ledger.claim_queued(bind, A, limit=2, at=at(1))
    for offset, row in enumerate(pair):
        ledger.finish(bind, row.id, "graded", 7.0, 10.0, at=at(1, 150))
        ledger.mark_released(bind, row.id, at=at(1, 158 + 8 * offset))
    (alone,) = ledger.claim_queued(bind, A, limit=2, at=at(1, 170))        # 4 s after the last release
    ledger.finish(bind, alone.id, "graded", 7.0, 10.0, at=at(1, 270))
    ledger.mark_released(bind, alone.id, at=at(1, 278))
    timing = board.Timing(ledger.rows(bind, A))
    assert (timing.grading, timing.release, timing.gap) == ({2: 150.0, 1: 100.0}, 8.0, 4.0)
    assert timing.batch(3) == pytest.approx(150 * (1 + 2 * board.CONTENTION) / (1 + board.CONTENTION))

    for student in ("d", "e", "f", "g"):
        ledger.enqueue(bind, A, student, T.format(10), at=T.format(10))
    ledger.claim_queued(bind, A, limit=2, at=at(10))
    rows = ledger.rows(bind, A)
    found = {row.student: found for row in rows
             for row_id, found in board.etas(rows, 2, at=at(10, 30)).items() if row.id == row_id}
    ahead = (150 - 30) + 2 * 8 + 4
    assert found == {"d": (0, 120 + 8), "e": (0, 120 + 16), "f": (1, ahead + 150 + 8), "g": (2, ahead + 150 + 16)}
    assert board.course(rows, policy.Policy(), workers=2, at=at(10, 30))["throughput"]["batch_seconds"] == {
        "1": 100.0, "2": 150.0}

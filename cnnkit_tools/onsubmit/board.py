"""What the service's pages show, computed from the ledger alone: no web, no hub here.

A student's view holds only that student's rows (``mine``), so a page or API answer built
from it cannot leak another student's state or score; the instructor's view (``course``) is
the whole queue. Both are plain dicts, the same for the HTML pages and the JSON API.

The ETA comes from the ledger's own history: the mean grading time of the last few finished
gradings (``finished_at - started_at``) and of their releases. The service grades in batches
of as many submissions as the engine has workers and claims the next batch when one ends, so a
queued submission at place p waits for what is left of the running batch, then ceil(p / W)
batches. Before any grading has finished, a default guess stands in (``DEFAULT_GRADING``).
"""

import datetime
import math

from . import ledger, policy as policies

RECENT = 10                 # finished gradings the mean is taken over
DEFAULT_GRADING = 120.0     # seconds, before the ledger has any history
DEFAULT_RELEASE = 10.0
RECENT_OUTCOMES = 20


def _seconds(earlier, later):
    return (ledger.parse(later) - ledger.parse(earlier)).total_seconds()


def durations(rows, recent=RECENT):
    """(mean grading seconds, mean release seconds, how many gradings it is from) of the
    ``recent`` most recently finished gradings, defaults where there are none."""
    done = sorted((r for r in rows if r.state in ledger.FINISHED and r.started_at and r.finished_at),
                  key=lambda r: r.finished_at)[-recent:]
    grading = [_seconds(r.started_at, r.finished_at) for r in done]
    released = [_seconds(r.finished_at, r.released_at) for r in done if r.released_at]
    return (sum(grading) / len(grading) if grading else DEFAULT_GRADING,
            sum(released) / len(released) if released else DEFAULT_RELEASE, len(grading))


def queue(rows):
    """The queued rows, in the order the service claims them."""
    return sorted((r for r in rows if r.state == "queued"), key=lambda r: (r.queued_at, r.id))


def etas(rows, workers, at=None):
    """{row id: (place in the queue or 0 while grading, seconds until its feedback is out)}
    for every queued or grading row."""
    at = ledger.parse(ledger.iso(at or ledger.now()))
    grading_mean, release_mean, _ = durations(rows)
    workers = max(1, workers)
    running = [r for r in rows if r.state == "grading" and r.started_at]
    left = max([max(0.0, grading_mean - (at - ledger.parse(r.started_at)).total_seconds())
                for r in running] or [0.0])
    found = {r.id: (0, left + release_mean) for r in running}
    for place, row in enumerate(queue(rows), start=1):
        found[row.id] = (place, left + math.ceil(place / workers) * grading_mean + release_mean)
    return found


def attempts_left(rows, policy, at=None):
    """Graded attempts the student still has in the 24 hours up to ``at``; None: no limit."""
    if not policy.attempts_per_day:
        return None
    at = ledger.parse(ledger.iso(at or ledger.now()))
    used = [r for r in rows if r.state in policies.COUNTED and at - ledger.parse(r.timestamp) < policies.DAY]
    return max(0, policy.attempts_per_day - len(used))


def _points(value):
    return f"{value:g} point{'' if value == 1 else 's'}"


def _span(seconds):
    minutes = max(1, round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)


def score_and_note(score, max_score, awaiting=0.0, seconds_late=0.0, penalty=0.0):
    """The score a student is shown, and what it does not say yet, from nbgrader's gradebook.

    ``score``: the sum of the grades so far; ``awaiting``: the points of answers still to be
    marked by hand (they count as 0 until then); ``seconds_late`` and ``penalty``: nbgrader's
    lateness against the assignment's due date and what its late-penalty plug-in took. The
    score shown is net of the penalty, as nbgrader's feedback shows it. Returns (score, note),
    the note None when there is nothing to add."""
    notes = []
    if awaiting:
        notes.append(f"{_points(awaiting)} of {max_score:g} (written answers) await your instructor; "
                     "they count as 0 until they are marked.")
    if seconds_late > 0:
        notes.append(f"Submitted {_span(seconds_late)} after the due date"
                     + (f": the late penalty took {_points(penalty)}." if penalty else " (no penalty)."))
    return score - (penalty or 0.0), " ".join(notes) or None


def _entry(row, eta=None):
    place, seconds = eta if eta else (None, None)
    return {"timestamp": row.timestamp, "state": row.state, "queued_at": row.queued_at,
            "started_at": row.started_at, "finished_at": row.finished_at, "released_at": row.released_at,
            "score": row.score, "max_score": row.max_score, "message": row.message,
            "place": place or None, "eta_seconds": round(seconds) if seconds is not None else None,
            "phases": {name: round(value, 1) if value is not None else None
                       for name, value in row.phases().items()}}


def mine(rows, student, policy, workers, at=None):
    """One student's view: their submissions (newest first), attempts left, the policy."""
    eta = etas(rows, workers, at)
    own = [r for r in rows if r.student == student]
    return {"student": student,
            "submissions": [_entry(r, eta.get(r.id)) for r in sorted(own, key=lambda r: r.timestamp, reverse=True)],
            "attempts_left": attempts_left(own, policy, at),
            "attempts_per_day": policy.attempts_per_day or None,
            "cooldown_minutes": policy.cooldown_minutes or None,
            "queue_length": len(queue(rows))}


def course(rows, policy, workers, at=None):
    """The instructor's view: the queue, throughput, recent outcomes and faults."""
    at = ledger.parse(ledger.iso(at or ledger.now()))
    eta = etas(rows, workers, at)
    grading_mean, release_mean, basis = durations(rows)
    hour = [r for r in rows if r.state in ledger.FINISHED and r.finished_at
            and at - ledger.parse(r.finished_at) < datetime.timedelta(hours=1)]
    finished = sorted((r for r in rows if r.finished_at and r.state != "queued"),
                      key=lambda r: r.finished_at, reverse=True)

    def named(row):
        return {"student": row.student, **_entry(row, eta.get(row.id))}

    return {"queue": [named(r) for r in queue(rows)],
            "grading": [named(r) for r in rows if r.state == "grading"],
            "throughput": {"graded_last_hour": len(hour), "mean_grading_seconds": round(grading_mean, 1),
                           "mean_release_seconds": round(release_mean, 1), "from_gradings": basis,
                           "workers": workers},
            "recent": [named(r) for r in finished[:RECENT_OUTCOMES]],
            "faults": [named(r) for r in finished if r.state in ("fault", "grader_error")],
            "counts": {state: sum(r.state == state for r in rows) for state in ledger.STATES},
            "policy": {"attempts_per_day": policy.attempts_per_day or None,
                       "cooldown_minutes": policy.cooldown_minutes or None,
                       "feedback_at": policy.feedback_at.isoformat() if policy.feedback_at else None}}

"""What the service's pages show, computed from the ledger alone: no web, no hub here.

A student's view holds only that student's rows (``mine``), so a page or API answer built
from it cannot leak another student's state or score; the instructor's view (``course``) is
the whole queue. Both are plain dicts, the same for the HTML pages and the JSON API.

The ETA comes from the ledger's own history (``Timing``): what the last few finished batches
cost by their size, one student's release, and the pass between two batches. The service grades
in batches of as many submissions as the engine has workers, releases each batch's feedback one
student after another, then claims the next batch, so a queued submission at place p waits for
what is left of the running batch and its releases, then ceil(p / W) batches, then its own
place in its batch's releases (``etas``). Before any batch has finished, defaults stand in.
"""

import datetime

from . import ledger, policy as policies

RECENT = 10                 # finished batches the ETA learns from
DEFAULT_GRADING = 120.0     # seconds for a batch of one, before the ledger has any history
DEFAULT_RELEASE = 10.0      # seconds per student's feedback
DEFAULT_GAP = 5.0           # seconds from a batch's last release to the next claim
CONTENTION = 0.3            # each more grading side by side: +30% per batch (measured, docs/onsubmit.md)
RECENT_OUTCOMES = 20


_t = ledger.parse  # the table's ISO times as datetimes: compared as text, two spellings of one time differ


def batches(rows):
    """The batches the service claimed, oldest first: lists of the rows claimed together (one
    ``started_at``, as ``ledger.claim_queued`` sets it), each in the order it is released."""
    found = {}
    for row in rows:
        if row.started_at:
            found.setdefault(row.started_at, []).append(row)
    return [sorted(found[start], key=lambda r: (_t(r.queued_at), r.id)) for start in sorted(found, key=_t)]


class Timing:
    """What the ledger's recent history says a batch costs, learnt from its last ``RECENT``
    finished batches:

    * ``grading[k]``: a batch of k submissions, from claim to finish. Gradings side by side
      share the machine, so a batch of two is slower than one alone; a size with no history
      is scaled from the nearest one by ``CONTENTION`` (an on-submit burst on a hub that so
      far graded one at a time);
    * ``release``: one student's feedback, generated and released one after another once the
      batch is graded (the k-th of a batch is out k steps after the batch ends);
    * ``gap``: from a batch's last release to the next batch's claim (the pass's collect),
      learnt only from batches whose rows were already queued when the batch before was
      claimed (a submission that came later waited for a pass's collect, not for the service).
    """

    def __init__(self, rows, recent=RECENT):
        done = [b for b in batches(rows) if all(r.state in ledger.FINISHED and r.finished_at for r in b)]
        done = done[-recent:]
        sizes = {}
        for batch in done:
            sizes.setdefault(len(batch), []).append(
                (max(_t(r.finished_at) for r in batch) - _t(batch[0].started_at)).total_seconds())
        self.grading = {k: sum(v) / len(v) for k, v in sizes.items()}
        steps, gaps = [], []
        for before, after in zip(done, done[1:]):
            out = max(_t(r.released_at or r.finished_at) for r in before)
            if all(_t(r.queued_at) <= _t(before[0].started_at) for r in after):
                gaps.append(max(0.0, (_t(after[0].started_at) - out).total_seconds()))
        for batch in done:
            last = max(_t(r.finished_at) for r in batch)
            for released in sorted(_t(r.released_at) for r in batch if r.released_at):
                steps.append((released - last).total_seconds())
                last = released
        self.release = sum(steps) / len(steps) if steps else DEFAULT_RELEASE
        self.gap = sum(gaps) / len(gaps) if gaps else DEFAULT_GAP
        self.basis = sum(len(v) for v in sizes.values())

    def batch(self, size):
        """Seconds to grade a batch of ``size``, from history, scaled where it has none."""
        if size in self.grading:
            return self.grading[size]
        known, seconds = min(self.grading.items(), key=lambda kv: (abs(kv[0] - size), kv[0]),
                             default=(1, DEFAULT_GRADING))
        return seconds * (1 + CONTENTION * (size - 1)) / (1 + CONTENTION * (known - 1))


def queue(rows):
    """The queued rows, in the order the service claims them."""
    return sorted((r for r in rows if r.state == "queued"), key=lambda r: (r.queued_at, r.id))


def etas(rows, workers, at=None):
    """{row id: (place in the queue or 0 while grading, seconds until its feedback is out)}
    for every queued or grading row.

    The service claims a batch of up to ``workers``, grades it, releases its feedback one
    student at a time, then collects and claims the next: a queued row at place p is in batch
    ceil(p / W), at position (p - 1) % W + 1 of it, behind what is left of the running batch."""
    at = ledger.parse(ledger.iso(at or ledger.now()))
    timing = Timing(rows)
    workers = max(1, workers)
    found, ahead = {}, 0.0
    claimed = batches(rows)
    for batch in (b for b in claimed if any(r.state == "grading" for r in b)):  # one, as the service runs
        left = max(0.0, timing.batch(len(batch)) - (at - _t(batch[0].started_at)).total_seconds())
        for position, row in enumerate(batch, start=1):
            if row.state == "grading":
                found[row.id] = (0, left + position * timing.release)
        ahead = max(ahead, left + len(batch) * timing.release + timing.gap)
    if claimed and not found:
        # The last batch is graded and its feedback is going out: the next claim waits for it.
        unreleased = sum(r.state in ("graded", "fault") and not r.released_at for r in claimed[-1])
        ahead = unreleased * timing.release + (timing.gap if unreleased else 0.0)
    waiting = queue(rows)
    for first in range(0, len(waiting), workers):
        batch = waiting[first:first + workers]
        grading = timing.batch(len(batch))
        for position, row in enumerate(batch, start=1):
            found[row.id] = (first + position, ahead + grading + position * timing.release)
        ahead += grading + len(batch) * timing.release + timing.gap
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
    timing = Timing(rows)
    hour = [r for r in rows if r.state in ledger.FINISHED and r.finished_at
            and at - ledger.parse(r.finished_at) < datetime.timedelta(hours=1)]
    finished = sorted((r for r in rows if r.finished_at and r.state != "queued"),
                      key=lambda r: r.finished_at, reverse=True)

    def named(row):
        return {"student": row.student, **_entry(row, eta.get(row.id))}

    return {"queue": [named(r) for r in queue(rows)],
            "grading": [named(r) for r in rows if r.state == "grading"],
            "throughput": {"graded_last_hour": len(hour), "batch_seconds": {str(size): round(seconds, 1) for size, seconds in sorted(timing.grading.items())},
                           "release_seconds": round(timing.release, 1), "from_batches": timing.basis,
                           "workers": workers},
            "recent": [named(r) for r in finished[:RECENT_OUTCOMES]],
            "faults": [named(r) for r in finished if r.state in ("fault", "grader_error")],
            "counts": {state: sum(r.state == state for r in rows) for state in ledger.STATES},
            "policy": {"attempts_per_day": policy.attempts_per_day or None,
                       "cooldown_minutes": policy.cooldown_minutes or None,
                       "feedback_at": policy.feedback_at.isoformat() if policy.feedback_at else None}}

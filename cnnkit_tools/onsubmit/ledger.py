"""The ``cnnkit_submission`` table: every submission the on-submit service has seen, and its state.

Durability comes from this table, not from a queue in memory (Dask's scheduler, a broker):
the service can be killed at any moment and the table still says what was done. It lives in
the gradebook's database (SQLite or PostgreSQL, any URL nbgrader accepts), next to
``cnnkit_outcome``, so a backup of the gradebook keeps it; it is created when missing and
nbgrader's own migrations ignore it.

One row per (assignment, student, submission timestamp: nbgrader's timestamp.txt, as ISO
8601 UTC). States::

    queued --claim--> grading --finish--> graded | fault | grader_error
      |                  |
      +--> superseded <--+   (a newer submission of the same student arrived)
    refused                  (the course's policy: too many attempts, too soon)

Every transition is one conditional UPDATE (``... WHERE state = <the state it leaves>``)
and succeeds only if it changed a row, so two processes can never both claim, finish or
release the same submission. ``released_at`` is set at most once (``WHERE released_at IS
NULL``): the ledger records one release per submission, whatever happened around it.

Times are ISO 8601 UTC strings (submission timestamps to the microsecond, the service's own
to the millisecond), which sort as they compare.
"""

import datetime
from dataclasses import dataclass

import sqlalchemy as sa

from ..grade import outcome as outcomes

TABLE = "cnnkit_submission"
STATES = ("queued", "grading", "graded", "fault", "grader_error", "superseded", "refused")
ACTIVE = ("queued", "grading")           # still to be graded: a newer submission supersedes them
FINISHED = ("graded", "fault", "grader_error")
# The states that are the student's current submission (or will be): an older graded row is
# not released while a newer one of these exists.
CURRENT = ACTIVE + ("graded", "fault")

_metadata = sa.MetaData()
submission_table = sa.Table(
    TABLE, _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("assignment", sa.Text, nullable=False),
    sa.Column("student", sa.Text, nullable=False),
    sa.Column("timestamp", sa.Text, nullable=False),  # the submission's, from timestamp.txt
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("queued_at", sa.Text, nullable=False),   # when the service first saw it
    sa.Column("started_at", sa.Text),                  # the last claim
    sa.Column("finished_at", sa.Text),                 # graded, failed, superseded or refused
    sa.Column("released_at", sa.Text),                 # feedback released; set once
    sa.Column("score", sa.Float),
    sa.Column("max_score", sa.Float),
    sa.Column("message", sa.Text),                     # for the student: a refusal, a hold
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # claims: >1 after a recovery
    sa.UniqueConstraint("assignment", "student", "timestamp", name="cnnkit_submission_once"),
)
_c = submission_table.c


@dataclass
class Row:
    """One row of the table."""
    id: int
    assignment: str
    student: str
    timestamp: str
    state: str
    queued_at: str
    started_at: str | None = None
    finished_at: str | None = None
    released_at: str | None = None
    score: float | None = None
    max_score: float | None = None
    message: str | None = None
    attempts: int = 0

    @classmethod
    def from_row(cls, row):
        return cls(**dict(row._mapping))

    def phases(self):
        """Seconds spent waiting, grading and releasing (None where not reached): the latency
        the service reports, from the submission's own timestamp to its release."""
        times = [parse(t) if t else None for t in (self.timestamp, self.started_at,
                                                   self.finished_at, self.released_at)]
        names = ("waiting", "grading", "release")
        return {name: (later - earlier).total_seconds() if earlier and later else None
                for name, earlier, later in zip(names, times, times[1:])}


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def parse(text):
    """An ISO time from the table, as an aware UTC datetime."""
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def iso(value, timespec="milliseconds"):
    """A datetime (naive ones are UTC) or ISO string as the table writes the service's times."""
    if isinstance(value, str):
        value = parse(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc).isoformat(timespec=timespec)


def stamp(value):
    """A submission's timestamp as the table keys it: to the microsecond, as nbgrader writes
    timestamp.txt, so two submissions are never taken for one."""
    return iso(value, timespec="microseconds")


def engine(db_url):
    return sa.create_engine(db_url)


def ensure(bind):
    """Create the table if this database does not have it yet."""
    outcomes.create_table(bind, submission_table)


def rows(bind, assignment=None, student=None, states=None):
    """Rows, oldest submission first (of one assignment, student or set of states, if given)."""
    query = submission_table.select().order_by(_c.assignment, _c.student, _c.timestamp, _c.id)
    if assignment is not None:
        query = query.where(_c.assignment == assignment)
    if student is not None:
        query = query.where(_c.student == student)
    if states is not None:
        query = query.where(_c.state.in_(states))
    with bind.connect() as connection:
        return [Row.from_row(row) for row in connection.execute(query)]


def get(bind, row_id):
    with bind.connect() as connection:
        found = connection.execute(submission_table.select().where(_c.id == row_id)).first()
    return Row.from_row(found) if found else None


def find(bind, assignment, student, timestamp):
    with bind.connect() as connection:
        found = connection.execute(submission_table.select().where(
            (_c.assignment == assignment) & (_c.student == student) & (_c.timestamp == stamp(timestamp)))).first()
    return Row.from_row(found) if found else None


def _update(bind, row_id, leaving, **values):
    """The one way a row changes: only from one of the states ``leaving``; True if it did."""
    with bind.begin() as connection:
        done = connection.execute(submission_table.update()
                                  .where((_c.id == row_id) & _c.state.in_(leaving)).values(**values))
    return done.rowcount == 1


def enqueue(bind, assignment, student, timestamp, decide=None, at=None):
    """Record a submission the service has just found; return (its row, whether it is new).

    Seeing the same submission again changes nothing (a collect runs every few seconds).
    A new one is first put to ``decide(earlier_rows, timestamp)`` (policy.Policy.decide: the
    message of a refusal, or None), then queued. Queuing it supersedes the student's older
    queued or grading rows: only the newest submission is worth grading, and one graded
    while a newer one waits must not have its feedback released (see ``releasable``).
    One writer (the service) enqueues; the unique key keeps a second one from doubling a row.
    """
    timestamp, at = stamp(timestamp), at or now()
    existing = find(bind, assignment, student, timestamp)
    if existing:
        return existing, False
    mine = (_c.assignment == assignment) & (_c.student == student)
    earlier = rows(bind, assignment, student)
    newer = [row for row in earlier if row.timestamp > timestamp and row.state in CURRENT]
    refusal = decide(earlier, timestamp) if decide else None
    if newer:  # collected out of order: it was never the current submission
        state, message = "superseded", f"superseded by the submission of {newer[-1].timestamp}"
    elif refusal:
        state, message = "refused", refusal
    else:
        state, message = "queued", None
    values = dict(assignment=assignment, student=student, timestamp=timestamp, state=state,
                  queued_at=at, message=message, attempts=0,
                  finished_at=None if state == "queued" else at)
    try:
        with bind.begin() as connection:
            if state == "queued":
                connection.execute(submission_table.update()
                                   .where(mine & (_c.timestamp < timestamp) & _c.state.in_(ACTIVE))
                                   .values(state="superseded", finished_at=at,
                                           message=f"superseded by the submission of {timestamp}"))
            connection.execute(submission_table.insert().values(**values))
    except sa.exc.IntegrityError:  # another writer recorded it first
        return find(bind, assignment, student, timestamp), False
    return find(bind, assignment, student, timestamp), True


def claim(bind, row_id, at=None):
    """queued -> grading, counting the attempt; True for the one caller that got it."""
    return _update(bind, row_id, ("queued",), state="grading", started_at=at or now(),
                   attempts=_c.attempts + 1)


def claim_queued(bind, assignment, limit=None, at=None):
    """Claim up to ``limit`` queued rows of the assignment, first queued first, in one
    transaction (a page never shows half a batch claimed, whose ETA would then be a batch
    late); return them. Each row still moves only from ``queued``, so two claimers cannot
    both get one."""
    at = at or now()
    queued = sorted(rows(bind, assignment, states=("queued",)), key=lambda r: (r.queued_at, r.id))
    won = []
    with bind.begin() as connection:
        for row in queued:
            if limit is not None and len(won) >= limit:
                break
            done = connection.execute(submission_table.update()
                                      .where((_c.id == row.id) & (_c.state == "queued"))
                                      .values(state="grading", started_at=at, attempts=_c.attempts + 1))
            if done.rowcount == 1:
                won.append(row.id)
    return [get(bind, row_id) for row_id in won]


def finish(bind, row_id, state, score=None, max_score=None, message=None, at=None):
    """grading -> graded, fault or grader_error; False if the row was superseded meanwhile."""
    if state not in FINISHED:
        raise ValueError(f"a grading finishes as one of {FINISHED}, not {state!r}")
    return _update(bind, row_id, ("grading",), state=state, finished_at=at or now(),
                   score=score, max_score=max_score, message=message)


def supersede(bind, row_id, message, at=None):
    """queued or grading -> superseded (the folder already holds a newer submission)."""
    return _update(bind, row_id, ACTIVE, state="superseded", finished_at=at or now(), message=message)


def recover(bind, assignment=None):
    """Rows left ``grading`` by a service that was killed go back to ``queued``; their count.

    Run once, at the service's start, before it claims anything: a grading in flight then
    belongs to no one. (Its grade may already be recorded: the service does not grade a
    submission again whose cnnkit_outcome row says it was graded; service.py.)"""
    where = _c.state == "grading"
    if assignment is not None:
        where = where & (_c.assignment == assignment)
    with bind.begin() as connection:
        done = connection.execute(submission_table.update().where(where).values(
            state="queued", started_at=None, message="requeued: the service stopped while grading it"))
    return done.rowcount


def releasable(bind, assignment):
    """Finished rows (graded or fault) whose feedback is not released yet and that are still
    the student's current submission: no newer row is queued, grading or finished."""
    candidates = rows(bind, assignment, states=("graded", "fault"))
    current = rows(bind, assignment, states=CURRENT)
    return [row for row in candidates if row.released_at is None
            and not any(other.student == row.student and other.timestamp > row.timestamp for other in current)]


def mark_released(bind, row_id, at=None):
    """Record the release: True the first time only, so the ledger holds exactly one."""
    with bind.begin() as connection:
        done = connection.execute(submission_table.update()
                                  .where((_c.id == row_id) & _c.released_at.is_(None)
                                         & _c.state.in_(("graded", "fault")))
                                  .values(released_at=at or now()))
    return done.rowcount == 1


def note(bind, row_id, message):
    """Change a row's message only (a hold on its feedback, a release that failed)."""
    with bind.begin() as connection:
        connection.execute(submission_table.update().where(_c.id == row_id).values(message=message))

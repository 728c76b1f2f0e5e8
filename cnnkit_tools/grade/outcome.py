"""The ``cnnkit_outcome`` table: what happened to each submission, beside nbgrader's gradebook.

nbgrader's own tables say what each cell scored. They cannot say that a submission's kernel
died half way, that a notebook was unreadable, or that a worker crashed and the submission
was never graded at all. This table does (docs/contracts: section B): one row per
(assignment, student), replaced each time the submission is graded, in the same database as
the gradebook (SQLite or PostgreSQL, any URL nbgrader accepts), so that a backup of the
gradebook keeps it too. It is created when missing; nbgrader's own migrations ignore it.
"""

import datetime
import json
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

TABLE = "cnnkit_outcome"
OUTCOMES = ("graded", "fault", "unreadable", "grader_error")

_metadata = sa.MetaData()
outcome_table = sa.Table(
    TABLE, _metadata,
    sa.Column("assignment", sa.Text, primary_key=True),
    sa.Column("student", sa.Text, primary_key=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("fault_kind", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("not_run", sa.Text, nullable=False, default="[]"),
    sa.Column("submitted_at", sa.Text),
    sa.Column("graded_at", sa.Text, nullable=False),
    sa.Column("seconds", sa.Float),
    sa.Column("phases", sa.Text, nullable=False, default="[]"),
    sa.Column("worker", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
)


@dataclass
class Outcome:
    """One row of the table, with the JSON columns as Python lists."""
    assignment: str
    student: str
    outcome: str
    fault_kind: str | None = None
    detail: str | None = None
    not_run: list = field(default_factory=list)
    submitted_at: str | None = None
    graded_at: str = ""
    seconds: float | None = None
    phases: list = field(default_factory=list)
    worker: str | None = None
    attempts: int = 1

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")

    def row(self):
        values = asdict(self)
        values["not_run"] = json.dumps(self.not_run)
        values["phases"] = json.dumps(self.phases)
        values["graded_at"] = self.graded_at or now()
        return values

    @classmethod
    def from_row(cls, row):
        values = dict(row._mapping)
        values["not_run"] = json.loads(values["not_run"] or "[]")
        values["phases"] = json.loads(values["phases"] or "[]")
        return cls(**values)


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def engine(db_url):
    return sa.create_engine(db_url)


def create_table(bind, table):
    """Create ``table`` if this database does not have it yet.

    Two processes may both find it missing and both create it (the on-submit service and a
    page or benchmark reading its ledger, a grading's record): the one that loses fails
    because the table now exists, which is all it wanted. Any other failure is raised."""
    try:
        table.create(bind, checkfirst=True)
    except sa.exc.DBAPIError:
        if not sa.inspect(bind).has_table(table.name):
            raise


def ensure(bind):
    """Create the table if this database does not have it yet."""
    create_table(bind, outcome_table)


def upsert(bind, outcome):
    """Replace the row for (assignment, student): one grading, one row."""
    ensure(bind)
    row = outcome.row()
    key = (outcome_table.c.assignment == outcome.assignment) & (outcome_table.c.student == outcome.student)
    with bind.begin() as connection:
        connection.execute(outcome_table.delete().where(key))
        connection.execute(outcome_table.insert().values(**row))
    return row


def read(bind, assignment=None):
    """Every row (of one assignment, if given), by student."""
    ensure(bind)
    query = outcome_table.select().order_by(outcome_table.c.assignment, outcome_table.c.student)
    if assignment is not None:
        query = query.where(outcome_table.c.assignment == assignment)
    with bind.connect() as connection:
        return [Outcome.from_row(row) for row in connection.execute(query)]


def summary(rows):
    """Counts per outcome and mean seconds per phase, for the end of ``./kit grade``."""
    counts = {name: 0 for name in OUTCOMES}
    phases = {}
    for row in rows:
        counts[row.outcome] += 1
        for phase in row.phases:
            phases.setdefault(phase["phase"], []).append(float(phase["seconds"]))
    means = {name: sum(values) / len(values) for name, values in phases.items()}
    return counts, means

"""Read an assignment's scores from nbgrader's gradebook, and the kit's outcome table.

Through nbgrader's own API (``nbgrader.api.Gradebook``) and SQLAlchemy, so SQLite and
PostgreSQL gradebooks read the same. A grade nbgrader has no score for (a written answer
not graded yet) is *missing* (NaN), not zero as nbgrader's ``Grade.score`` would say.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cnnkit import settings

OUTCOME_TABLE = "cnnkit_outcome"


class GradebookError(RuntimeError):
    """The gradebook cannot be read, or does not hold the assignment."""


def db_url(course_dir, explicit=None):
    """The gradebook's URL: explicit, else $NBGRADER_DB_URL (as nbgrader_config.py reads it),
    else the SQLite file nbgrader keeps in the course folder."""
    return explicit or settings.gradebook_url(course_dir)


def shown_url(url):
    """The URL without its password, fit to print in a report."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as its scheme only
        return url.split(":", 1)[0] + ":..."


@dataclass
class Grades:
    """What the gradebook holds for one assignment."""
    assignment: str
    roster: list                      # every student in the gradebook, sorted
    submitted: dict                   # student -> submission timestamp (ISO) or None
    cells: pd.DataFrame               # index grade_id: notebook, points, cell_type
    scores: pd.DataFrame              # index student (roster), columns grade_id; NaN = missing
    needs_manual: pd.DataFrame        # same shape: nbgrader still wants a person to look
    outcomes: dict = field(default_factory=dict)   # student -> cnnkit_outcome row (dict)


def _score(grade):
    """nbgrader's score rule (manual over auto, plus extra credit), with None for no score."""
    base = grade.manual_score if grade.manual_score is not None else grade.auto_score
    if base is None:
        return np.nan
    return float(base) + float(grade.extra_credit or 0.0)


def read(url, assignment):
    """Grades for ``assignment`` from the gradebook at ``url``."""
    from nbgrader.api import Gradebook, MissingEntry

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise GradebookError(f"no gradebook at {url[len('sqlite:///'):]}: run nbgrader autograde "
                             "(./kit demo or ./kit grade) first, or give --db")
    try:
        gradebook = Gradebook(url)
    except Exception as err:  # noqa: BLE001 - any driver error means the same to the user
        raise GradebookError(f"cannot open the gradebook {shown_url(url)}: {err}") from err
    with gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            names = sorted(a.name for a in gradebook.assignments)
            raise GradebookError(f"assignment {assignment!r} is not in the gradebook {shown_url(url)} "
                                 f"(it holds: {', '.join(names) or 'none'})") from None
        cells = []
        for notebook in found.notebooks:
            for cell in list(notebook.grade_cells) + list(notebook.task_cells):
                cells.append({"grade_id": cell.name, "notebook": notebook.name,
                              "points": float(cell.max_score), "cell_type": cell.cell_type})
        cells = pd.DataFrame(cells, columns=["grade_id", "notebook", "points", "cell_type"]).set_index("grade_id")
        roster = sorted(student.id for student in gradebook.students)
        scores = pd.DataFrame(np.nan, index=pd.Index(roster, name="student"), columns=cells.index, dtype=float)
        needs = pd.DataFrame(False, index=scores.index, columns=cells.index)
        submitted = {}
        for submission in found.submissions:
            student = submission.student.id
            submitted[student] = submission.timestamp.isoformat() if submission.timestamp else None
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.name in scores.columns:
                        scores.loc[student, grade.name] = _score(grade)
                        needs.loc[student, grade.name] = bool(grade.needs_manual_grade)
    return Grades(assignment=assignment, roster=roster, submitted=submitted, cells=cells,
                  scores=scores, needs_manual=needs, outcomes=read_outcomes(url, assignment))


def read_outcomes(url, assignment):
    """``{student: row}`` from the kit's ``cnnkit_outcome`` table; {} when it does not exist.

    ``./kit grade`` writes that table (docs: contracts B); plain ``nbgrader autograde`` does
    not, and the report then falls back on what the autograded notebooks say.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(OUTCOME_TABLE):
            return {}
        table = sa.Table(OUTCOME_TABLE, sa.MetaData(), autoload_with=engine)
        with engine.connect() as connection:
            rows = connection.execute(sa.select(table).where(table.c.assignment == assignment))
            found = {}
            for row in rows.mappings():
                row = dict(row)
                for key in ("not_run", "phases"):
                    row[key] = _json_list(row.get(key))
                found[row["student"]] = row
            return found
    finally:
        engine.dispose()


def _json_list(text):
    if isinstance(text, list):
        return text
    try:
        value = json.loads(text) if text else []
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []

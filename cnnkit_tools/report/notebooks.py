"""Read what the autograded notebooks say: each test cell's verdict, and how grading went.

The grading pipeline writes a structured verdict into each graded test cell
(``cell.metadata["cnnkit"]["verdict"]``: passed, rule, message, points, and for the held-out
test ``measured``) and the notebook's outcome, fault and phases into
``nb.metadata["cnnkit"]`` (docs: contracts A). Notebooks graded before that carry only
their outputs: a failed cell holds an error output whose ``evalue`` is the message the
student sees, a passing cell may print a note on stdout. Both are read here, structured
first.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

_POINTS = re.compile(r"\s*\(\s*[\d.]+\s+points?\s*\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """A graded cell, where it sits in the assignment, and how it is graded."""
    grade_id: str
    notebook: str
    part: str          # the heading it sits under, e.g. "Part C: Compile the model"
    points: float
    kind: str          # "autograded" (a test cell) or "manual" (an answer a person grades)
    position: int      # order in the notebook


@dataclass
class Verdict:
    passed: bool
    message: str = ""
    rule: str = None
    measured: dict = field(default_factory=dict)


def read(path):
    return nbformat.read(str(path), as_version=4)


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {}) if hasattr(cell, "metadata") else {}


def heading(cell):
    """The text of a markdown cell's first heading line (level 1-3), without its points."""
    if cell.cell_type != "markdown":
        return None
    for line in cell.source.strip().splitlines()[:1]:
        match = re.match(r"^(#{1,3})\s+(.*\S)", line)
        if match:
            return _POINTS.sub("", match.group(2)).strip()
    return None


def layout(notebook, name):
    """The graded cells of a notebook in order, each with the heading it sits under."""
    items, part = [], name
    for cell in notebook.cells:
        title = heading(cell)
        if title is not None and not _nbgrader(cell).get("grade"):
            part = title
        meta = _nbgrader(cell)
        if meta.get("grade") or meta.get("task"):
            manual = bool(meta.get("solution") or meta.get("task") or cell.cell_type != "code")
            items.append(Item(grade_id=meta["grade_id"], notebook=name, part=part,
                              points=float(meta.get("points", 0)),
                              kind="manual" if manual else "autograded", position=len(items)))
    return items


def verdict(cell):
    """A graded test cell's verdict, from its metadata, else from its outputs."""
    structured = cell.metadata.get("cnnkit", {}).get("verdict") if hasattr(cell, "metadata") else None
    if isinstance(structured, dict) and "passed" in structured:
        return Verdict(passed=bool(structured["passed"]), message=str(structured.get("message") or ""),
                       rule=structured.get("rule"), measured=dict(structured.get("measured") or {}))
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        error = errors[-1]
        name, value = error.get("ename", ""), str(error.get("evalue", "")).strip()
        message = value if name == "AssertionError" and value else f"{name}: {value}".strip(": ")
        return Verdict(passed=False, message=message)
    printed = "".join(o.get("text", "") for o in cell.get("outputs", [])
                      if o.get("output_type") == "stream" and o.get("name") == "stdout")
    return Verdict(passed=True, message=printed.strip())


def verdicts(notebook):
    """``{grade_id: Verdict}`` for every autograded test cell of a notebook."""
    return {meta["grade_id"]: verdict(cell) for cell in notebook.cells
            if (meta := _nbgrader(cell)).get("grade") and not meta.get("solution")
            and cell.cell_type == "code"}


def grading(notebook):
    """The notebook-level record of how grading went (contracts A), or {} if it has none."""
    record = notebook.metadata.get("cnnkit")
    return dict(record) if isinstance(record, dict) else {}


def autograded_path(course_dir, student, assignment, notebook):
    return Path(course_dir) / "autograded" / student / assignment / f"{notebook}.ipynb"


def source_path(course_dir, assignment, notebook):
    """The instructor's notebook, else the release, for the assignment's layout."""
    for folder in ("source", "release"):
        path = Path(course_dir) / folder / assignment / f"{notebook}.ipynb"
        if path.is_file():
            return path
    return None

"""Gather an assignment's report data from the gradebook and the autograded notebooks.

``collect`` reads; ``write`` puts the tables beside the report as CSV files, which the
report notebook reads, and which an instructor can open in a spreadsheet:

- ``items.csv``: one row per graded cell: part, kind, points, mean, share with full marks,
  difficulty, discrimination, flags.
- ``parts.csv``: the same per part of the assignment.
- ``by_student_and_cell.csv``: each student's score on each cell (empty = missing), and totals.
- ``data/students.csv``, ``data/failures.csv``, ``data/outcomes.csv``, ``data/phases.csv``,
  ``data/summary.json``: what the report's other sections show.
"""

import datetime
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cnnkit_grader.judge import thresholds

from . import failures, gradebook, heldout, notebooks, stats

KIT_ROOT = Path(__file__).resolve().parents[2]
PARTIAL = "(partial credit; the notebook gives no failure message)"
SILENT = "(no points; the notebook gives no failure message)"
DEFAULT_BUDGET = "grading"  # what nbgrader autograde uses unless CNNKIT_BUDGET says otherwise


@dataclass
class Collected:
    summary: dict
    items: pd.DataFrame
    parts: pd.DataFrame
    by_student: pd.DataFrame
    students: pd.DataFrame
    failures: pd.DataFrame
    outcomes: pd.DataFrame
    phases: pd.DataFrame


def _layout(course_dir, grades):
    """Every graded cell of the gradebook, in notebook order, with its part and kind."""
    items = []
    for name in dict.fromkeys(grades.cells["notebook"]):
        path = notebooks.source_path(course_dir, grades.assignment, name)
        if path is None:  # no source or release here: any autograded copy has the same cells
            path = next((p for s in grades.submitted
                         if (p := notebooks.autograded_path(course_dir, s, grades.assignment, name)).is_file()),
                        None)
        found = notebooks.layout(notebooks.read(path), name) if path else []
        prefix = f"{name}: " if grades.cells["notebook"].nunique() > 1 else ""
        known = {item.grade_id for item in found}
        items += [notebooks.Item(i.grade_id, name, prefix + i.part, i.points, i.kind, len(items) + i.position)
                  for i in found if i.grade_id in grades.cells.index]
        # Cells the gradebook knows but the notebook does not show (renamed since): still count.
        for grade_id, row in grades.cells[grades.cells["notebook"] == name].iterrows():
            if grade_id not in known:
                items.append(notebooks.Item(grade_id, name, prefix + "(not in the notebook)", row["points"],
                                            "autograded" if row["cell_type"] == "code" else "manual",
                                            len(items)))
    return sorted(items, key=lambda i: i.position)


def _student_record(course_dir, grades, student, notebook_names):
    """Verdicts and how grading went, for one student, from the table and the notebooks."""
    record = {"verdicts": {}, "grading": {}, "unreadable": None}
    for name in notebook_names:
        path = notebooks.autograded_path(course_dir, student, grades.assignment, name)
        if not path.is_file():
            continue
        try:
            notebook = notebooks.read(path)
        except Exception as err:  # noqa: BLE001 - a broken file is reported, not fatal
            record["unreadable"] = f"{path.name}: {err}"
            continue
        record["verdicts"].update(notebooks.verdicts(notebook))
        record["grading"] = record["grading"] or notebooks.grading(notebook)
        record["has_notebook"] = True
    return record


def _outcome(grades, student, record, submitted_folder):
    """(outcome, kind, detail, seconds, phases, not_run, worker, attempts) for one student."""
    row = grades.outcomes.get(student)
    if row:
        return (row.get("outcome") or "graded", row.get("fault_kind"), row.get("detail"),
                row.get("seconds"), row.get("phases") or [], row.get("not_run") or [],
                row.get("worker"), row.get("attempts"))
    meta = record["grading"]
    if student not in grades.submitted:
        if submitted_folder:
            return ("not graded", None, "submitted, but not autograded yet", None, [], [], None, None)
        return ("no submission", None, None, None, [], [], None, None)
    if meta:
        fault = meta.get("fault") if isinstance(meta.get("fault"), dict) else {}
        return (meta.get("outcome") or "graded", fault.get("kind"),
                fault.get("message") or "; ".join(meta.get("notes") or []) or None,
                meta.get("seconds"), meta.get("phases") or [], meta.get("not_run") or [], None, None)
    if record.get("has_notebook"):
        return ("graded", None, None, None, [], [], None, None)
    return ("grader_error", "no_autograded_notebook",
            record["unreadable"] or "the gradebook has this submission but no autograded notebook",
            None, [], [], None, None)


def outcome_label(outcome, kind):
    if outcome == "fault":
        return f"fault: {kind or 'unknown'}"
    if outcome == "grader_error":
        return f"grader error: {kind or 'unknown'}"
    return outcome


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def collect(course_dir, assignment, url=None, budget=None, kit_root=KIT_ROOT):
    course_dir = Path(course_dir)
    url = gradebook.db_url(course_dir, url)
    grades = gradebook.read(url, assignment)
    layout = _layout(course_dir, grades)
    order = [item.grade_id for item in layout]
    info = {item.grade_id: item for item in layout}
    scores = grades.scores[order]
    points = pd.Series({g: info[g].points for g in order}, dtype=float)

    submitted_dir = course_dir / "submitted"
    folders = {p.parent.name for p in submitted_dir.glob(f"*/{assignment}")} if submitted_dir.is_dir() else set()
    class_list = sorted(set(grades.roster) | folders | set(grades.submitted))
    scores = scores.reindex(class_list)
    names = list(dict.fromkeys(grades.cells["notebook"]))
    records = {s: _student_record(course_dir, grades, s, names) for s in class_list}

    # ---- per-cell and per-part statistics
    items = stats.item_statistics(scores, points)
    items.insert(0, "kind", [info[g].kind for g in order])
    items.insert(0, "part", [info[g].part for g in order])
    items.insert(2, "points", points.values)
    items.insert(len(items.columns) - 1, "awaiting_manual_grade",
                 [int((grades.needs_manual.reindex(class_list)[g].fillna(False).astype(bool)
                       & scores[g].isna()).sum()) for g in order])
    items.index.name = "cell"
    part_cells = {}
    for item in layout:
        part_cells.setdefault(item.part, []).append(item.grade_id)
    part_matrix = stats.part_scores(scores, part_cells)
    part_points = pd.Series({p: points[c].sum() for p, c in part_cells.items()})
    parts = stats.item_statistics(part_matrix, part_points)
    parts.insert(0, "points", part_points.values)
    parts.insert(0, "cells", [", ".join(c) for c in part_cells.values()])
    parts.index.name = "part"

    auto_cells = [g for g in order if info[g].kind == "autograded"]
    manual_cells = [g for g in order if info[g].kind == "manual"]
    by_student = scores.copy()
    by_student["autograded"] = stats.total(scores, auto_cells)
    by_student["manual"] = stats.total(scores, manual_cells) if manual_cells else np.nan
    by_student["total"] = stats.total(scores, order)
    by_student.index.name = "student"

    # ---- what each student's grading says
    threshold_file = kit_root / thresholds.THRESHOLDS_FILE.relative_to(KIT_ROOT)
    rows, failed, phase_rows = [], [], []
    for student in class_list:
        record = records[student]
        outcome, kind, detail, seconds, phases, not_run, worker, attempts = _outcome(
            grades, student, record, student in folders)
        verdict = record["verdicts"].get(heldout.CELL)
        accuracy, status, reason = heldout.accuracy(verdict) if verdict else (None, "missing", "")
        lost = [g for g in auto_cells if pd.notna(scores.loc[student, g])
                and scores.loc[student, g] < points[g] - 1e-9]
        for g in lost:
            v = record["verdicts"].get(g)
            if v and not v.passed and v.message:
                failed.append((g, student, v.message, v.rule))
            else:  # partial credit, or a notebook that says nothing: count it all the same
                failed.append((g, student, PARTIAL if scores.loc[student, g] > 0 else SILENT, None))
        for phase in phases if isinstance(phases, list) else []:
            if isinstance(phase, dict) and phase.get("phase"):
                phase_rows.append({"student": student, "phase": str(phase["phase"]),
                                   "start": _number(phase.get("start")),
                                   "seconds": _number(phase.get("seconds"))})
        rows.append({"student": student, "outcome": outcome, "outcome_label": outcome_label(outcome, kind),
                     "fault_kind": kind, "detail": detail,
                     "submitted_at": grades.submitted.get(student),
                     "autograded": by_student.loc[student, "autograded"],
                     "manual": by_student.loc[student, "manual"], "total": by_student.loc[student, "total"],
                     "cells_lost": ", ".join(lost), "not_run": ", ".join(map(str, not_run or [])),
                     "heldout_accuracy": accuracy, "heldout_status": status, "heldout_reason": reason,
                     "seconds": _number(seconds), "worker": worker, "attempts": attempts})
    students = pd.DataFrame(rows, columns=["student", "outcome", "outcome_label", "fault_kind", "detail",
                                           "submitted_at", "autograded", "manual", "total", "cells_lost",
                                           "not_run", "heldout_accuracy", "heldout_status", "heldout_reason",
                                           "seconds", "worker", "attempts"])
    scored = {g: int(scores[g].notna().sum()) for g in order}
    failure_table = failures.table(failed, scored, {g: (info[g].part, info[g].position) for g in order})

    outcome_rows = []
    for label, group in students.groupby("outcome_label", sort=False):
        outcome_rows.append({"outcome": label, "count": len(group),
                             "students": ", ".join(sorted(group["student"]))})
    rank = {"graded": 0, "not graded": 8, "no submission": 9}
    outcomes = pd.DataFrame(outcome_rows, columns=["outcome", "count", "students"])
    outcomes = outcomes.sort_values("outcome", key=lambda s: s.map(lambda v: (rank.get(v, 5), v))) \
        .reset_index(drop=True)

    # ---- held-out threshold and calibration
    # The budget and threshold each grading recorded in its notebook; for a class with no
    # graded notebook yet, the budget asked for (or the environment's) and its calibrated value.
    recorded = Counter((records[s]["grading"].get("budget"), records[s]["grading"].get("threshold"))
                       for s in class_list if records[s]["grading"].get("budget"))
    if recorded and not budget:
        (chosen, threshold), _ = recorded.most_common(1)[0]
    else:
        chosen = budget or os.environ.get("CNNKIT_BUDGET") or DEFAULT_BUDGET
        threshold = next((t for (b, t) in recorded if b == chosen), None)
        if threshold is None:
            threshold = heldout.thresholds(threshold_file).get(chosen)
    calibration = heldout.calibration(kit_root / "docs" / "calibration", chosen)

    graded = students[students["outcome"].isin(["graded", "fault"])]
    summary = {
        "assignment": assignment, "course_dir": str(course_dir.resolve()),
        "gradebook": gradebook.shown_url(url),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "students": len(class_list), "submitted": len(grades.submitted),
        "with_scores": int(scores.notna().any(axis=1).sum()),
        "graded": len(graded),
        "points": {"autograded": float(points[auto_cells].sum()), "manual": float(points[manual_cells].sum()),
                   "total": float(points.sum())},
        "cells": {"autograded": len(auto_cells), "manual": len(manual_cells)},
        "totals": {"autograded": stats.describe(by_student["autograded"]),
                   "manual": stats.describe(by_student["manual"]),
                   "total": stats.describe(by_student["total"])},
        "flag_rules": {"hard_below": stats.HARD_BELOW, "easy_above": stats.EASY_ABOVE,
                       "low_discrimination": stats.LOW_DISCRIMINATION},
        "heldout": {"cell": heldout.CELL, "budget": chosen, "threshold": threshold,
                    "threshold_source": "the autograded notebooks" if any(b == chosen for b, _ in recorded)
                    else str(threshold_file.relative_to(kit_root)),
                    "calibration": calibration},
        "outcome_source": (f"the cnnkit_outcome table for {len(set(grades.outcomes) & set(class_list))} of "
                           f"{len(class_list)} students, the autograded notebooks for the rest"
                           if grades.outcomes else "the autograded notebooks"),
        "timing_recorded": bool(students["seconds"].notna().any()),
        "phases_recorded": bool(phase_rows),
    }
    phases = pd.DataFrame(phase_rows, columns=["student", "phase", "start", "seconds"])
    return Collected(summary=summary, items=items, parts=parts, by_student=by_student, students=students,
                     failures=failure_table, outcomes=outcomes, phases=phases)


def write(collected, out):
    """Write the tables into ``out`` (and ``out/data``); return the paths written."""
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    paths = {
        "items": out / "items.csv", "parts": out / "parts.csv",
        "by_student_and_cell": out / "by_student_and_cell.csv",
        "students": out / "data" / "students.csv", "failures": out / "data" / "failures.csv",
        "outcomes": out / "data" / "outcomes.csv", "phases": out / "data" / "phases.csv",
    }
    collected.items.to_csv(paths["items"], float_format="%.4g", na_rep="n/a")
    collected.parts.to_csv(paths["parts"], float_format="%.4g", na_rep="n/a")
    collected.by_student.to_csv(paths["by_student_and_cell"], float_format="%g", na_rep="")
    collected.students.to_csv(paths["students"], index=False)
    collected.failures.to_csv(paths["failures"], index=False, float_format="%.4g")
    collected.outcomes.to_csv(paths["outcomes"], index=False)
    collected.phases.to_csv(paths["phases"], index=False)
    paths["summary"] = out / "data" / "summary.json"
    paths["summary"].write_text(json.dumps(collected.summary, indent=2) + "\n")
    return paths

"""The single writer: record a task's result in the real course, as serial autograde would.

For each result the client
1. replaces ``autograded/STUDENT/ASSIGNMENT/`` with the files the task returned (modes
   included: nbgrader leaves them read-only);
2. writes the grades into the real gradebook through nbgrader's own ``Gradebook`` API: the
   student and the submission with nbgrader's timestamp (which creates the notebook, grade
   and comment rows as ``nbgrader autograde`` does), then each cell's ``auto_score`` and
   ``auto_comment`` and the notebook's late penalty exactly as nbgrader saved them in the
   task's private gradebook, and ``needs_manual_grade`` by nbgrader's rule (SaveAutoGrades:
   an existing manual score in the real gradebook still needs review);
3. replaces the submission's row in ``cnnkit_outcome``.

Copying the values nbgrader computed, rather than re-deriving them from the notebook here,
keeps them identical to serial grading even where the course's config changes how nbgrader
scores (late-penalty plug-ins, partial credit).

A grading that never produced an autograded notebook for an infrastructure reason (worker
died twice, timeout, kit mismatch, broken config) leaves the course as it was and records
only the outcome, so an earlier good grading is not lost. When nbgrader itself failed on
the submission, the client mirrors what serial nbgrader leaves: no autograded folder, and
the submission's rows as nbgrader wrote them.
"""

import datetime
import time
import warnings
from pathlib import Path

from . import files, outcome as outcomes

INFRASTRUCTURE = {"worker_died", "task_failed", "timeout", "kit_mismatch", "config_error", "too_large",
                  "record_failed"}
UNREADABLE_SIGNS = ("NotJSONError", "Notebook does not appear to be JSON", "Unreadable Notebook")


def classify(result):
    """The Outcome fields that follow from a task's result (all but timing and place)."""
    error = result.get("error")
    if error:
        kind, detail = error
        if kind == "nbgrader_failed" and any(sign in (result.get("log") or "") for sign in UNREADABLE_SIGNS):
            return {"outcome": "unreadable", "fault_kind": None, "detail": detail}
        return {"outcome": "grader_error", "fault_kind": kind, "detail": detail}
    notebooks = {name: meta for name, meta in (result.get("metadata") or {}).items()}
    if not notebooks:
        return {"outcome": "unreadable", "fault_kind": None,
                "detail": "no notebook of the assignment in the submission"}
    fields = {"outcome": "graded", "fault_kind": None, "detail": None, "not_run": [], "phases": []}
    rank = {"graded": 0, "fault": 1, "unreadable": 2}
    for meta in notebooks.values():
        if not meta:  # a pipeline that does not write contract A's metadata: graded as is
            continue
        kind = meta.get("outcome", "graded")
        if rank.get(kind, 0) > rank[fields["outcome"]]:
            fields["outcome"] = kind
        fault = meta.get("fault") or {}
        if fault:
            fields["fault_kind"] = fault.get("kind")
            fields["detail"] = fault.get("message")
        elif kind == "unreadable" and meta.get("notes"):
            fields["detail"] = "; ".join(meta["notes"])
        fields["not_run"] += list(meta.get("not_run") or [])
        fields["phases"] += list(meta.get("phases") or [])
    return fields


def _timestamp(text):
    if not text:
        return None
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is not None:  # nbgrader keeps naive UTC
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def write_grades(db_url, assignment, student, grades):
    """Put the grades nbgrader saved in the task's private gradebook into the real one."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warnings (serial
        # autograde prints the same ones); they say nothing about this grading.
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(student)
        timestamp = _timestamp(grades.get("timestamp"))
        if timestamp is not None:
            gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gradebook.update_or_create_submission(assignment, student)
        for notebook_id, saved in grades["notebooks"].items():
            for name, grade in saved["grades"].items():
                row = gradebook.find_grade(name, notebook_id, assignment, student)
                row.auto_score = grade["auto_score"]
                row.needs_manual_grade = bool(grade["needs_manual_grade"]) or row.manual_score is not None
            for name, comment in saved["comments"].items():
                gradebook.find_comment(name, notebook_id, assignment, student).auto_comment = \
                    comment["auto_comment"]
            gradebook.find_submission_notebook(notebook_id, assignment, student) \
                .late_submission_penalty = saved["late_submission_penalty"]
        gradebook.db.commit()


def autograded_folder(course_dir, assignment, student):
    return Path(course_dir) / "autograded" / student / assignment


def record(course_dir, db_url, bind, result, attempts=1):
    """Record one task's result in the course; return the Outcome written."""
    started = time.monotonic()
    assignment, student = result["assignment"], result["student"]
    fields = classify(result)
    folder = autograded_folder(course_dir, assignment, student)
    if result.get("autograded") is not None:
        files.unpack(result["autograded"], folder, replace=True)
    elif fields["outcome"] != "grader_error" or fields["fault_kind"] == "nbgrader_failed":
        if folder.exists():
            files.unpack({}, folder, replace=True)
            folder.rmdir()
    if result.get("grades") and fields.get("fault_kind") not in INFRASTRUCTURE:
        write_grades(db_url, assignment, student, result["grades"])
    timings = result.get("timings") or {}
    phases = fields.pop("phases", []) + [
        {"phase": name, "seconds": round(seconds, 3)} for name, seconds in
        (("task_setup", timings.get("setup")), ("task_collect", timings.get("collect")),
         ("record", time.monotonic() - started)) if seconds is not None]
    row = outcomes.Outcome(assignment=assignment, student=student,
                           submitted_at=result.get("submitted_at"), seconds=result.get("seconds"),
                           worker=result.get("worker"), attempts=attempts, phases=phases, **fields)
    outcomes.upsert(bind, row)
    return row

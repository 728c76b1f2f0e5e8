"""What "the same gradebook" means when parallel grading is compared with serial grading.

For every submission: the timestamp, each grade cell's auto score, max score and review
flag, each comment's auto comment, and the late penalty. Manual scores are not compared:
autograding does not write them.
"""

from nbgrader.api import Gradebook, MissingEntry


def gradebook_view(url, assignment, students):
    """{student: what the gradebook holds for that submission} (None: never graded)."""
    seen = {}
    with Gradebook(url) as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                seen[student] = None
                continue
            notebooks = {}
            for notebook in submission.notebooks:
                notebooks[notebook.name] = {
                    "grades": {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in notebook.grades},
                    "comments": {c.name: c.auto_comment for c in notebook.comments},
                    "late_penalty": notebook.late_submission_penalty}
            seen[student] = {"timestamp": submission.timestamp, "notebooks": notebooks}
    return seen


def differences(expected, got):
    """Human-readable lines naming each submission and cell where two views differ."""
    lines = []
    for student in sorted(set(expected) | set(got)):
        a, b = expected.get(student), got.get(student)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{student}: graded in one run only")
            continue
        if a["timestamp"] != b["timestamp"]:
            lines.append(f"{student}: timestamp {a['timestamp']} != {b['timestamp']}")
        for name in sorted(set(a["notebooks"]) | set(b["notebooks"])):
            na, nb = a["notebooks"].get(name, {}), b["notebooks"].get(name, {})
            for part in ("grades", "comments"):
                for cell in sorted(set(na.get(part, {})) | set(nb.get(part, {}))):
                    if na.get(part, {}).get(cell) != nb.get(part, {}).get(cell):
                        lines.append(f"{student}/{name}/{cell}: {na.get(part, {}).get(cell)} != "
                                     f"{nb.get(part, {}).get(cell)}")
            if na.get("late_penalty") != nb.get("late_penalty"):
                lines.append(f"{student}/{name}: late penalty {na.get('late_penalty')} != {nb.get('late_penalty')}")
    return lines

"""What the class got wrong: each test cell's failure messages, counted across students.

Failures group by the verdict's ``rule`` when the grader names one (``compile_loss.logits_mismatch``),
else by the message with its numbers blanked out, so "classifies 9.8% ..." and "classifies
10.1% ..." count as one mistake. Each group shows the message most students saw.
"""

import re
from collections import Counter, defaultdict

import pandas as pd

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")

COLUMNS = ["part", "cell", "rule", "message", "count", "share", "of", "students"]


def key(message, rule=None):
    """The group a failure belongs to: its rule, else its message without the numbers."""
    if rule:
        return f"rule:{rule}"
    return "text:" + _SPACE.sub(" ", _NUMBER.sub("#", message or "")).strip().lower()


def table(failed, scored, parts):
    """Counted failure messages, most frequent first within each cell.

    ``failed``: iterable of (cell, student, message, rule) for every test cell a student lost
    points on. ``scored``: cell -> number of students with a score for that cell, the share's
    denominator. ``parts``: cell -> (part, position) to group and order by concept.
    """
    groups = defaultdict(lambda: {"students": [], "messages": Counter(), "rule": None})
    for cell, student, message, rule in failed:
        group = groups[(cell, key(message, rule))]
        group["students"].append(student)
        group["messages"][message or "(no message)"] += 1
        group["rule"] = rule
    rows = []
    for (cell, _), group in groups.items():
        count, of = len(group["students"]), scored.get(cell, 0)
        rows.append({"part": parts[cell][0] if cell in parts else "", "cell": cell,
                     "rule": group["rule"] or "",
                     "message": group["messages"].most_common(1)[0][0],
                     "count": count, "share": count / of if of else float("nan"), "of": of,
                     "students": ", ".join(sorted(group["students"]))})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    order = frame["cell"].map(lambda c: parts[c][1] if c in parts else 10**6)
    return (frame.assign(_order=order).sort_values(["_order", "count", "message"],
                                                   ascending=[True, False, True])
            .drop(columns="_order").reset_index(drop=True))

"""Item analysis of a class's scores: difficulty, discrimination, full marks, flags.

Input is a table with one row per student and one column per item (a graded cell, or a part
of the assignment), holding points earned; NaN means *missing* (not submitted, not graded
yet), never zero. Every statistic uses only the students who have a score for the item.

- difficulty: the share of the item's points the class earned, mean score / max points
  (0 = nobody scored, 1 = everyone had full marks).
- discrimination: the corrected item-total correlation, i.e. the point-biserial (Pearson)
  correlation of the item's score with the total of the *other* items. Including the item
  in the total would correlate it with itself. The "other items" are those that every
  student in the item's sample has a score for, so a missing grade never enters a total as
  a zero. With fewer than two students, or when either side does not vary, the correlation
  is undefined: ``None`` (the report shows "n/a").
- flags, from item-analysis practice: difficulty under 30% (hard), over 80% (easy),
  discrimination under 0.1 (does not separate stronger from weaker students); only for
  items at least two students have a score for.
"""

import math

import numpy as np
import pandas as pd

HARD_BELOW = 0.30
EASY_ABOVE = 0.80
LOW_DISCRIMINATION = 0.10
MIN_FLAGGED = 2  # students with a score before an item is flagged

COLUMNS = ["n", "missing", "mean", "full_marks_share", "difficulty", "discrimination", "flags"]


def pearson(x, y):
    """Pearson correlation of two equally long sequences, or None when it is undefined."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    # A constant column has no variance, up to rounding: nothing to correlate with.
    if sxx <= 1e-12 * max(1.0, float(x @ x)) or syy <= 1e-12 * max(1.0, float(y @ y)):
        return None
    return float(dx @ dy / math.sqrt(sxx * syy))


def flags(difficulty, discrimination):
    """The usual item-analysis flags for one item, as short words."""
    found = []
    if difficulty is not None and difficulty < HARD_BELOW:
        found.append("hard")
    if difficulty is not None and difficulty > EASY_ABOVE:
        found.append("easy")
    if discrimination is not None and discrimination < LOW_DISCRIMINATION:
        found.append("low discrimination")
    return found


def rest_total(scores, item, sample):
    """Each sampled student's total over the other items that all of the sample have scores for."""
    others = [column for column in scores.columns
              if column != item and scores.loc[sample, column].notna().all()]
    return scores.loc[sample, others].sum(axis=1), others


def item_statistics(scores, max_points):
    """One row per item (``scores``' columns, in order) with the statistics in COLUMNS.

    ``max_points`` maps each item to its points. Undefined values are None, never NaN, so
    that tables and CSV files say "n/a" rather than hide a division by zero.
    """
    rows = []
    for item in scores.columns:
        column = scores[item]
        sample = column.notna()
        n = int(sample.sum())
        top = float(max_points[item])
        mean = float(column[sample].mean()) if n else None
        full = float((column[sample] >= top - 1e-9).mean()) if n else None
        difficulty = mean / top if n and top > 0 else None
        rest, _ = rest_total(scores, item, sample)
        discrimination = pearson(column[sample], rest) if n >= 2 else None
        rows.append({"item": item, "n": n, "missing": int(len(column) - n), "mean": mean,
                     "full_marks_share": full, "difficulty": difficulty,
                     "discrimination": discrimination,
                     # One score says nothing about an item: flag only what two or more show.
                     "flags": ", ".join(flags(difficulty, discrimination)) if n >= MIN_FLAGGED else ""})
    table = pd.DataFrame(rows, columns=["item"] + COLUMNS).set_index("item")
    numbers = ["mean", "full_marks_share", "difficulty", "discrimination"]
    table[numbers] = table[numbers].astype(float)  # None -> NaN: "n/a" in the report
    return table


def part_scores(scores, parts):
    """Per-student score of each part: the sum of its items, missing if any item is missing.

    ``parts`` maps part name -> list of item columns, in the order to show them.
    """
    return pd.DataFrame({part: scores[items].sum(axis=1, min_count=len(items))
                         .where(scores[items].notna().all(axis=1))
                         for part, items in parts.items()}, index=scores.index)


def total(scores, items):
    """Each student's total over ``items``; missing if any of them is missing."""
    if not items:
        return pd.Series(np.nan, index=scores.index)
    return scores[items].sum(axis=1).where(scores[items].notna().all(axis=1))


def describe(values):
    """n, mean, median, standard deviation (sample), min and max of the present values."""
    values = pd.Series(values, dtype=float).dropna()
    n = len(values)
    return {"n": n,
            "mean": float(values.mean()) if n else None,
            "median": float(values.median()) if n else None,
            "std": float(values.std(ddof=1)) if n >= 2 else None,
            "min": float(values.min()) if n else None,
            "max": float(values.max()) if n else None}

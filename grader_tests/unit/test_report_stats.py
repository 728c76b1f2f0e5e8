"""Item statistics on small tables whose values are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from cnnkit_tools.report import stats


def test_pearson_by_hand_and_when_undefined():
    # x = 0,1,2 and y = 0,1,1: deviations -1,0,1 and -2/3,1/3,1/3 -> 1 / sqrt(2 * 2/3).
    assert stats.pearson([0, 1, 2], [0, 1, 1]) == pytest.approx(1 / math.sqrt(4 / 3))
    assert stats.pearson([1, 1, 1], [0, 1, 2]) is None        # the item does not vary
    assert stats.pearson([0, 1, 2], [5, 5, 5]) is None        # the rest does not vary
    assert stats.pearson([1], [2]) is None                    # one student
    assert stats.pearson([0, 1, np.nan, 2], [0, 1, 7, 1]) == pytest.approx(1 / math.sqrt(4 / 3))


@pytest.mark.parametrize("difficulty, discrimination, expected", [
    (0.29, 0.5, ["hard"]), (0.30, 0.5, []), (0.80, 0.5, []), (0.81, 0.5, ["easy"]),
    (0.5, 0.09, ["low discrimination"]), (0.5, 0.10, []), (0.5, None, []),
    (0.1, -0.4, ["hard", "low discrimination"]), (None, None, [])])
def test_flags_use_the_item_analysis_thresholds(difficulty, discrimination, expected):
    assert stats.flags(difficulty, discrimination) == expected


def test_item_statistics_leave_missing_scores_out():
    # q2 is missing for s3: q1's rest is q3 alone over s1-s4; q2's sample is s1, s2, s4.
    scores = pd.DataFrame({"q1": [1, 0, 1, 1], "q2": [2, 0, np.nan, 2], "q3": [1, 0, 0, 1]},
                          index=["s1", "s2", "s3", "s4"], dtype=float)
    table = stats.item_statistics(scores, pd.Series({"q1": 1, "q2": 2, "q3": 1}))
    assert table.loc["q2", "n"] == 3 and table.loc["q2", "missing"] == 1
    assert table.loc["q2", "mean"] == pytest.approx(4 / 3)          # not 1.0, as a zero would make it
    assert table.loc["q2", "difficulty"] == pytest.approx(2 / 3)
    # q1 = 1,0,1,1 against q3 = 1,0,0,1: cov 0.5, sums 0.75 and 1 -> 0.5 / sqrt(0.75).
    assert table.loc["q1", "discrimination"] == pytest.approx(0.5 / math.sqrt(0.75))
    # q2 over s1, s2, s4 = 2,0,2 against q1 + q3 = 2,0,2: perfectly correlated.
    assert table.loc["q2", "discrimination"] == pytest.approx(1.0)


def test_nobody_scored_is_all_undefined():
    scores = pd.DataFrame({"q": [np.nan, np.nan]}, index=["a", "b"])
    row = stats.item_statistics(scores, pd.Series({"q": 2})).loc["q"]
    assert row["n"] == 0 and row["missing"] == 2 and row["flags"] == ""
    assert all(math.isnan(row[c]) for c in ("mean", "full_marks_share", "difficulty", "discrimination"))


def test_totals_are_missing_when_a_part_is():
    scores = pd.DataFrame({"q1": [1, 1], "q2": [2, np.nan]}, index=["a", "b"])
    assert stats.total(scores, ["q1", "q2"]).tolist()[0] == 3 and math.isnan(stats.total(scores, ["q1", "q2"])["b"])
    parts = stats.part_scores(scores, {"A": ["q1"], "B": ["q1", "q2"]})
    assert parts.loc["b", "A"] == 1 and math.isnan(parts.loc["b", "B"])
    assert stats.describe([4, np.nan, 2, 3]) == {"n": 3, "mean": 3.0, "median": 3.0, "std": 1.0,
                                                 "min": 2.0, "max": 4.0}
    assert stats.describe([5])["std"] is None


def test_one_score_is_not_flagged():
    # Only s1 has a score (the others are missing): 0 of 2 is no evidence the item is hard.
    scores = pd.DataFrame({"q": [0, np.nan, np.nan], "r": [1, 1, 0]}, index=["s1", "s2", "s3"], dtype=float)
    table = stats.item_statistics(scores, pd.Series({"q": 2, "r": 1}))
    assert table.loc["q", "difficulty"] == 0 and table.loc["q", "flags"] == ""
    assert table.loc["r", "flags"] == ""   # 2/3, and r has no rest to correlate with: n/a

"""What ``./kit grade`` shows: a live bar (done/total, elapsed, ETA), then the tables.

Rich draws the bar on a terminal and stays quiet elsewhere (CI logs, pipes), where the
line printed per finished submission and the final tables carry the same information.
"""

import sys

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from . import outcome as outcomes

STYLE = {"graded": "green", "fault": "yellow", "unreadable": "magenta", "grader_error": "red"}


def _score_text(score):
    total, maximum = score
    return f"{total:g}/{maximum:g}" if maximum else "-"


class Progress:
    def __init__(self, console=None):
        # Off a terminal (CI logs, pipes) rich would wrap the tables at 80 columns.
        self.console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 150)
        self.bar = None
        self.scores = {}

    def start(self, total, mode):
        self.console.print(f"grading {total} submission{'s' * (total != 1)} on {mode}")
        self.bar = RichProgress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
                                transient=True)
        self.bar.start()
        self.task = self.bar.add_task("grading", total=total)

    def advance(self, row, score):
        self.scores[row.student] = score
        seconds = f"{row.seconds:.0f} s" if row.seconds is not None else "-"
        what = row.outcome + (f" ({row.fault_kind})" if row.fault_kind else "")
        self.bar.console.print(f"  {row.student}: {_score_text(score)} {what}, {seconds}"
                               + (f", {row.attempts} attempts" if row.attempts > 1 else ""))
        self.bar.advance(self.task)

    def stop(self):
        if self.bar is not None:
            self.bar.stop()


def results_table(rows, scores):
    """One line per submission graded in this run: score, outcome, time, where, attempts."""
    table = Table(title="Graded in this run")
    for column in ("student", "autograded score", "outcome", "seconds", "worker", "attempts", "detail"):
        table.add_column(column, justify="right" if column in ("seconds", "attempts") else "left")
    for row in sorted(rows, key=lambda r: r.student):
        detail = (row.detail or "").splitlines()[0][:70] if row.detail else ""
        table.add_row(row.student, _score_text(scores.get(row.student, (0, 0))),
                      f"[{STYLE[row.outcome]}]{row.outcome}[/]" + (f" ({row.fault_kind})" if row.fault_kind else ""),
                      f"{row.seconds:.1f}" if row.seconds is not None else "-", row.worker or "-",
                      str(row.attempts), detail)
    return table


def summary_table(rows):
    """The whole assignment as cnnkit_outcome records it: outcomes and mean phase times."""
    counts, phases = outcomes.summary(rows)
    table = Table(title=f"cnnkit_outcome: {len(rows)} submission{'s' * (len(rows) != 1)}")
    table.add_column("outcome")
    table.add_column("submissions", justify="right")
    for name, count in counts.items():
        table.add_row(f"[{STYLE[name]}]{name}[/]", str(count))
    timing = Table(title="mean seconds per phase")
    timing.add_column("phase")
    timing.add_column("seconds", justify="right")
    for name, seconds in phases.items():
        timing.add_row(name, f"{seconds:.1f}")
    return table, timing

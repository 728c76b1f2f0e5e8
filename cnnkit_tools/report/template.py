"""The report notebook: its cells read the CSV files ``collect.write`` puts beside it.

The notebook imports only pandas, seaborn and matplotlib, never the kit, so an instructor
can open ``report.ipynb`` in Jupyter, change a table or a plot, and re-run it anywhere the
CSV files are. Each plot is saved as a PNG beside the notebook and shown inline (embedded),
so the exported HTML page needs no other file.
"""

import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from . import stats

SETUP = r'''
# The data are the files beside this notebook, written by `./kit report`. Change anything
# here and re-run the notebook (Run All) to adapt the report.
import base64
import html
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")  # draw into files; the PNGs are shown below and kept beside the page
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import HTML, Markdown, display

HERE = Path(".")
summary = json.loads((HERE / "data" / "summary.json").read_text())
STATISTICS = {c: ["n/a", ""] for c in ("mean", "full_marks_share", "difficulty", "discrimination")}
items = pd.read_csv(HERE / "items.csv", index_col="cell", keep_default_na=False, na_values=STATISTICS)
parts = pd.read_csv(HERE / "parts.csv", index_col="part", keep_default_na=False, na_values=STATISTICS)
by_student = pd.read_csv(HERE / "by_student_and_cell.csv", index_col="student")
students = pd.read_csv(HERE / "data" / "students.csv", keep_default_na=False,
                       na_values={c: [""] for c in ("autograded", "manual", "total", "heldout_accuracy", "seconds")})
failures = pd.read_csv(HERE / "data" / "failures.csv", keep_default_na=False)
outcomes = pd.read_csv(HERE / "data" / "outcomes.csv", keep_default_na=False)
phases = pd.read_csv(HERE / "data" / "phases.csv")

ASSIGNMENT = summary["assignment"]
RULES = summary["flag_rules"]
N_SCORED = summary["with_scores"]
sns.set_theme(style="whitegrid", context="notebook", font_scale=1.1)
PALETTE = sns.color_palette("colorblind")


def percent(value):
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def number(value, digits=2):
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def names(text, limit=12):
    """A list of students cut short for the page; the CSV files keep them all."""
    found = [n for n in str(text).split(", ") if n]
    return ", ".join(found[:limit]) + (f" ... and {len(found) - limit} more" if len(found) > limit else "")


def show_plot(fig, name, caption):
    """Save the figure as NAME.png beside this notebook and show it, embedded, with a caption."""
    path = HERE / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    data = base64.b64encode(path.read_bytes()).decode()
    display(HTML(f'<figure class="cnnkit-plot" data-plot="{name}" style="margin:0 0 1em 0">'
                 f'<img src="data:image/png;base64,{data}" alt="{html.escape(caption)}" style="max-width:100%">'
                 f'<figcaption style="color:#555">{html.escape(caption)} ({path.name})</figcaption></figure>'))


def show_table(frame, name, formats=None, highlight=None, index=False, missing=()):
    """Show a table: undefined values read "n/a", and in the ``missing`` columns "missing"."""
    styler = frame.style.set_uuid(name).set_table_attributes(f'data-table="{name}" class="cnnkit-table"')
    styler = styler.format(formats or {}, na_rep="n/a")
    if missing:
        styler = styler.format({c: (formats or {}).get(c) for c in missing}, na_rep="missing", subset=list(missing))
    if highlight is not None:
        styler = styler.apply(lambda row: ["background-color:#fde2c8" if highlight(row) else ""] * len(row), axis=1)
    if not index:
        styler = styler.hide(axis="index")
    display(HTML(styler.set_table_styles([
        {"selector": "th", "props": "text-align:left; padding:2px 8px"},
        {"selector": "td", "props": "text-align:left; padding:2px 8px; vertical-align:top"}]).to_html()))
'''

HEADLINE = r'''
intro = [f"**{summary['students']}** students in the gradebook or `submitted/`, "
         f"**{summary['submitted']}** submitted, **{N_SCORED}** with scores. "
         f"Gradebook: `{summary['gradebook']}`; generated {summary['generated_at']}."]
if N_SCORED == 0:
    intro.append(f"**No student has a score for {ASSIGNMENT} yet**, so there is nothing to analyse: "
                 "autograde the submissions first (`./kit grade` or `nbgrader autograde`).")
elif N_SCORED == 1:
    intro.append("**Only one student has a score**, so this report shows that student's results; "
                 "statistics across students (spread, discrimination) need at least two.")
auto = summary["totals"]["autograded"]
if auto["n"]:
    intro.append(f"Autograded score: mean **{auto['mean']:.1f}**, median **{auto['median']:.1f}** of "
                 f"{summary['points']['autograded']:g} points.")
display(Markdown(" ".join(intro)))
top = failures.sort_values("count", ascending=False, kind="stable").head(5)
if len(top):
    display(Markdown("**Most frequent mistakes** (all of them are under *What the class got wrong*):\n\n" + "\n".join(
        f"- {row['count']} of {row['of']} students ({percent(row['share'])}), `{row['cell']}` "
        f"({row['part']}): {row['message']}" for _, row in top.iterrows())))
'''

SCORES = r'''
panels = [("autograded", "Autograded tests"), ("manual", "Manual grades (written answers)"),
          ("total", "Total (autograded + manual)")]
drawn, notes = [], []
for column, title in panels:
    values = by_student[column].dropna()
    top = summary["points"][column]
    if top == 0:
        continue
    missing = int(by_student[column].isna().sum())
    if len(values) < 2:
        notes.append(f"{title}: {len(values)} {'student has' if len(values) == 1 else 'students have'} "
                     "a complete score, too few for a distribution"
                     + (f"; {missing} missing (not graded yet, or not submitted)." if missing else "."))
        continue
    drawn.append((column, title, values, top, missing))
if drawn:
    fig, axes = plt.subplots(1, len(drawn), figsize=(max(8, 5.6 * len(drawn)), 4.2), squeeze=False)
    for ax, (column, title, values, top, missing) in zip(axes[0], drawn):
        width = max(1.0, float(np.ceil(top / 40)))  # one bar per point up to 40 points
        sns.histplot(values, binwidth=width, binrange=(0, top + width), color=PALETTE[0], ax=ax)
        ax.axvline(values.mean(), color=PALETTE[3], linestyle="--", linewidth=2, label=f"mean {values.mean():.1f}")
        ax.axvline(values.median(), color=PALETTE[2], linestyle=":", linewidth=2.5,
                   label=f"median {values.median():.1f}")
        ax.set(xlim=(0, top + width), xlabel=f"score (of {top:g} points)", ylabel="students",
               title=f"{title}\n{len(values)} students" + (f", {missing} missing" if missing else ""))
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper left")
    show_plot(fig, "scores", "Distribution of total scores, with the mean and the median")
if notes:
    display(Markdown("\n\n".join(notes)))
if not drawn and not notes:
    display(Markdown("No scores yet."))
'''

ITEMS_TEXT = """
## Parts and test cells

**Difficulty** is the share of an item's points the class earned (mean score / points): 0 means nobody
scored, 1 everyone had full marks. **Discrimination** is the corrected item-total correlation: the
point-biserial (Pearson) correlation between the item's score and the student's total on the *other*
items, counting only items every student in the sample has a score for (a missing grade never counts as
zero). It is *n/a* when fewer than two students have a score or when the item or the rest does not vary
(everyone scored the same). Rows are highlighted when item-analysis practice would look again:
difficulty under {hard:.0%} (*hard*) or over {easy:.0%} (*easy*), or discrimination under {low:g}
(*low discrimination*: the item does not separate students who do well overall from those who do not);
an item fewer than two students have a score for is not flagged.
Missing scores (not submitted, written answers not graded yet) are left out, not counted as zero.
"""

ITEMS = r'''
formats = {"mean": "{:.2f}", "full marks": percent, "difficulty": "{:.2f}", "discrimination": "{:.2f}",
           "points": "{:g}"}
flagged = lambda row: bool(row["flags"])
display(Markdown("### Per part"))
part_table = parts.reset_index().rename(columns={"full_marks_share": "full marks"})
show_table(part_table[["part", "points", "n", "missing", "mean", "full marks", "difficulty", "discrimination", "flags"]],
           "parts", formats, flagged)
display(Markdown("### Per cell"))
item_table = items.reset_index().rename(columns={"full_marks_share": "full marks",
                                                 "awaiting_manual_grade": "awaiting grading"})
show_table(item_table[["part", "cell", "kind", "points", "n", "missing", "mean", "full marks", "difficulty",
                       "discrimination", "flags", "awaiting grading"]], "items", formats, flagged)
plotted = items[items["n"] > 0]
if N_SCORED >= 1 and len(plotted):
    height = max(3.5, 0.32 * len(plotted) + 1.2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    frame = plotted.reset_index()
    colors = [PALETTE[3] if f else PALETTE[0] for f in frame["flags"]]
    left.barh(frame["cell"], frame["difficulty"], color=colors)
    left.axvline(RULES["hard_below"], color="grey", linestyle="--")
    left.axvline(RULES["easy_above"], color="grey", linestyle="--")
    left.set(xlim=(0, 1), xlabel="difficulty (share of points earned)", ylabel="", title="Difficulty")
    left.invert_yaxis()
    disc = frame["discrimination"]
    right.barh(frame["cell"], disc.fillna(0), color=[PALETTE[3] if f else PALETTE[0] for f in frame["flags"]])
    for y, value in enumerate(disc):
        if pd.isna(value):
            right.text(0.02, y, "n/a", va="center", color="#555")
    right.axvline(RULES["low_discrimination"], color="grey", linestyle="--")
    right.axvline(0, color="black", linewidth=0.8)
    right.set(xlim=(-1, 1), xlabel="discrimination (correlation with the rest)", title="Discrimination")
    show_plot(fig, "items", "Difficulty and discrimination per cell (flagged cells in orange, dashed lines are the flag thresholds)")
'''

FAILURES = r'''
if failures.empty:
    display(Markdown("No test cell lost points." if N_SCORED else "No scores yet."))
else:
    display(Markdown("For each test cell, the messages the grader gave students who lost its points, most "
                     "frequent first, grouped by the part of the assignment (the concept) they belong to. "
                     "*Share* is of the students with a score for that cell."))
    for position, (part, group) in enumerate(failures.groupby("part", sort=False)):
        display(Markdown(f"### {part}"))
        table = group.assign(students_share=[f"{c} of {o} ({percent(s)})" for c, o, s in
                                             zip(group["count"], group["of"], group["share"])],
                             students=group["students"].map(names))
        columns = {"cell": "cell", "message": "what the grader said", "students_share": "students", "students": "who"}
        if (group["rule"] != "").any():
            columns = {"cell": "cell", "rule": "rule", **{k: v for k, v in columns.items() if k != "cell"}}
        show_table(table[list(columns)].rename(columns=columns), f"failures-{position}")
'''

HELDOUT = r'''
info = summary["heldout"]
threshold, calibration = info["threshold"], info["calibration"]
measured = students.dropna(subset=["heldout_accuracy"])
text = [f"The grader scores `{info['cell']}` by the dropout model's accuracy on the held-out images. Budget "
        f"**{info['budget']}**, threshold **{number(threshold, 2) if threshold is not None else 'unknown'}** "
        f"(from {info['threshold_source']})."]
if calibration and calibration["reference"]:
    ref = pd.Series(calibration["reference"])
    text.append(f"Calibration ({calibration['date']}, {calibration['training']}): a correct notebook reached "
                f"{ref.min():.1%} to {ref.max():.1%} over {len(ref)} seeds (mean {ref.mean():.1%}).")
else:
    text.append(f"No calibration was found for budget {info['budget']} (docs/calibration/{info['budget']}/).")
text.append(f"**{len(measured)}** of {len(students)} students have a measured accuracy.")
display(Markdown(" ".join(text)))
rows = []
if calibration:
    rows += [("correct notebook\n(calibration seeds)", v) for v in calibration["reference"]]
    rows += [("broken configurations\n(calibration)", v) for values in calibration["broken"].values() for v in values]
rows += [("this class", v) for v in measured["heldout_accuracy"]]
if rows and len(measured):
    frame = pd.DataFrame(rows, columns=["group", "held-out accuracy"])
    fig, ax = plt.subplots(figsize=(10, 3.6))
    sns.stripplot(data=frame, x="held-out accuracy", y="group", hue="group", palette=PALETTE[:3], size=7,
                  jitter=0.18, alpha=0.8, legend=False, ax=ax)
    if threshold is not None:
        ax.axvline(threshold, color=PALETTE[3], linestyle="--", linewidth=2, label=f"threshold {threshold:.2f}")
        ax.legend(loc="lower right")
    ax.set(ylabel="", xlabel="share of held-out images classified correctly")
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    show_plot(fig, "heldout", "Held-out accuracy of the class against the threshold and the calibrated distribution")
order = {"passed": 0, "below threshold": 1, "not scored": 2, "no accuracy": 3, "missing": 4}
statuses = (students.sort_values("heldout_status", key=lambda s: s.map(lambda v: order.get(v, 5)), kind="stable")
            .groupby("heldout_status", sort=False)
            .agg(count=("student", "size"), students=("student", lambda s: ", ".join(sorted(s))),
                 reason=("heldout_reason", lambda r: next((x for x in r if x), "")))
            .reset_index().rename(columns={"heldout_status": "held-out test"}))
show_table(statuses.assign(students=statuses["students"].map(names)), "heldout-status")
'''

OUTCOMES = r'''
display(Markdown(f"How grading ended for each submission (from {summary['outcome_source']}). *graded*: the "
                 "notebook ran and every test cell got a verdict; *fault*: it stopped (timeout, memory, dead kernel) "
                 "and the cells after it were not run; *unreadable*: the file could not be read as a notebook; "
                 "*grader error*: grading itself failed and needs a look."))
show_table(outcomes.assign(students=outcomes["students"].map(names)), "outcomes")
not_run = students[students["not_run"] != ""]
if len(not_run):
    display(Markdown("Graded cells that never ran because of a fault:"))
    show_table(not_run[["student", "outcome_label", "detail", "not_run"]].rename(
        columns={"outcome_label": "outcome", "not_run": "cells not run"}), "not-run")
'''

TIMING = r'''
timed = students.dropna(subset=["seconds"])
if timed.empty:
    display(Markdown("Grading times were not recorded for these submissions: the grader that produced them wrote no "
                     "timings (`./kit grade` records them in the gradebook's `cnnkit_outcome` table, and the "
                     "grading pipeline in each notebook's metadata)."))
else:
    seconds = timed["seconds"]
    display(Markdown(f"{len(timed)} submissions timed: mean **{seconds.mean():.0f} s**, median "
                     f"**{seconds.median():.0f} s**, slowest **{seconds.max():.0f} s** "
                     f"({timed.loc[seconds.idxmax(), 'student']})."))
    panels = 2 if len(phases) else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    sns.histplot(seconds, bins=min(20, max(5, len(seconds))), color=PALETTE[0], ax=axes[0][0])
    axes[0][0].set(xlabel="seconds to grade one submission", ylabel="submissions", title="Time per submission")
    axes[0][0].yaxis.get_major_locator().set_params(integer=True)
    if len(phases):
        order = phases.groupby("phase")["start"].median().sort_values().index
        sns.boxplot(data=phases, x="seconds", y="phase", order=order, color=PALETTE[1], ax=axes[0][1])
        axes[0][1].set(xlabel="seconds", ylabel="", title="Phases of grading")
    show_plot(fig, "timing", "Time to grade each submission, and its phases")
    if len(phases):
        show_table(phases.groupby("phase", sort=False)["seconds"].agg(["count", "mean", "median", "max"])
                   .reset_index(), "phases", {"mean": "{:.1f}", "median": "{:.1f}", "max": "{:.1f}"})
'''

STUDENTS = r'''
heldout_shown = [f"{a:.1%}" if pd.notna(a) else status
                 for a, status in zip(students["heldout_accuracy"], students["heldout_status"])]
table = students.assign(**{"held-out accuracy": heldout_shown})
table = table[["student", "outcome_label", "autograded", "manual", "total", "held-out accuracy", "cells_lost"]]
table = table.rename(columns={"outcome_label": "outcome", "cells_lost": "test cells that lost points"})
show_table(table, "students", {"autograded": "{:g}", "manual": "{:g}", "total": "{:g}"},
           missing=("autograded", "manual", "total"))
display(Markdown("*missing* means no score yet: not submitted, or written answers not graded yet (a total is "
                 "missing while any of its parts is). Every cell's score per student is in "
                 "`by_student_and_cell.csv`, the statistics per cell in `items.csv`."))
'''


def _code(source):
    return new_code_cell(textwrap.dedent(source).strip("\n"))


def _markdown(source):
    return new_markdown_cell(textwrap.dedent(source).strip("\n"))


def notebook(assignment):
    """The unexecuted report notebook for ``assignment``."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["title"] = f"{assignment}: instructor report"
    nb.cells = [
        _markdown(f"""
            # {assignment}: what the class got wrong

            This page is `report.ipynb` executed and exported by `./kit report {assignment}`. To change it,
            open that notebook in Jupyter (its data are the CSV files beside it) and run it again."""),
        _code(SETUP),
        _code(HEADLINE),
        _markdown("## Total scores"),
        _code(SCORES),
        _markdown(ITEMS_TEXT.format(hard=stats.HARD_BELOW, easy=stats.EASY_ABOVE, low=stats.LOW_DISCRIMINATION)),
        _code(ITEMS),
        _markdown("## What the class got wrong"),
        _code(FAILURES),
        _markdown("## Held-out accuracy"),
        _code(HELDOUT),
        _markdown("## How grading ended"),
        _code(OUTCOMES),
        _markdown("## Time to grade"),
        _code(TIMING),
        _markdown("## Students"),
        _code(STUDENTS),
    ]
    return nbformat.from_dict(nb)

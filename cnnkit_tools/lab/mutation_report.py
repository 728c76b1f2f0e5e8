"""Measure the grader: autograde every mutant and variant, and print a mutant x test matrix.

    python -m cnnkit_tools.lab.mutation_report [--budget NAME] [--ci] [--out DIR] [--publish] [--workdir DIR]
    ./kit mutants                      # everything, grading budget (about 40 min on 2 cores)

Writes the reference, every variant (:mod:`cnnkit.variants`) and every mutant
(:mod:`cnnkit.mutations`; only the CI set with ``--ci``) into a throwaway course folder and
grades them all with one real ``nbgrader autograde``, under the grading budget unless
``--budget`` names another. Then prints and writes (``report.md``, ``results.json``):

* the matrix: one row per mutant, one column per test cell; ``X`` a lost cell the mutant
  should lose, ``X!`` a lost cell it should not, ``miss`` a cell it should lose but kept;
* the mutation score: the share of mutants that lost points;
* the precision: the share that lost points only in cells of their own concept
  (:data:`cnnkit.mutations.CONCEPT_CELLS`);
* whether each variant and the reference scored full marks;
* what each mutant's feedback says in the cells it lost.

The output goes to DIR (default ``.cache/mutants``; ``docs/mutation`` with ``--publish``).
"""

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

from .. import course, submissions
from . import mutations, variants

ROOT = course.ROOT
PUBLISHED_DIR = ROOT / "docs" / "mutation"


def test_cells():
    """grade_id -> points of every autograded test cell, in notebook order."""
    nb = submissions.read(submissions.source_and_release(ROOT)[1])
    return {submissions.grade_id(c): c.metadata.nbgrader["points"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def grade(workdir, changes, budget_name):
    """Autograde the reference and ``changes`` in a fresh course folder; return the folder."""
    directory = course.copy_course(Path(workdir) / "course")
    course.generate_release(directory)
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    for change in changes:
        submissions.write(submissions.apply(reference, change), directory, change.name)
    # "" lets the budget follow nbgrader's own rule, as on a real grading machine.
    course.autograde(directory, CNNKIT_BUDGET="" if budget_name == "grading" else budget_name)
    return directory


def failure_messages(directory, student):
    """grade_id -> the error a student reads under each test cell that raised."""
    nb = submissions.read(course.autograded_notebook(directory, student))
    messages = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error" and submissions.grade_id(cell):
                messages[submissions.grade_id(cell)] = f"{out.ename}: {out.evalue}"
    return messages


def outcome(change, got):
    """What a submission lost, against what it should have lost."""
    order = list(test_cells())
    lost = sorted((g for g, (score, points) in got.items() if score < points), key=order.index)
    result = {"name": change.name, "concept": change.concept, "ci": change.ci, "note": change.note,
              "lost": lost, "expected": sorted(change.fails, key=order.index),
              "points_lost": sum(points - score for score, points in got.values())}
    if change in mutations.MUTANTS:
        result["precise"] = mutations.is_precise(change, lost)
    return result


def collect(directory, mutants, variants_=()):
    """Outcomes of every graded submission in a course folder that ``grade`` filled."""
    rows = {"reference": course.scores(directory, "reference")}
    return {
        "reference_full_marks": all(s == p for s, p in rows["reference"].values()),
        "variants": [outcome(v, course.scores(directory, v.name)) for v in variants_],
        "mutants": [dict(outcome(m, course.scores(directory, m.name)),
                         messages=failure_messages(directory, m.name)) for m in mutants],
    }


def figures(results):
    mutants = results["mutants"]
    n = len(mutants)
    return {
        "mutants": n,
        "killed": sum(bool(m["lost"]) for m in mutants),
        "precise": sum(m["precise"] for m in mutants),
        "as_designed": sum(m["lost"] == m["expected"] for m in mutants),
        "variants": len(results["variants"]),
        "variants_full_marks": sum(not v["lost"] for v in results["variants"]),
        "reference_full_marks": results["reference_full_marks"],
    }


def _mark(cell, row):
    lost, expected = cell in row["lost"], cell in row["expected"]
    return "X" if lost and expected else "X!" if lost else "miss" if expected else ""


def matrix(results, cells):
    """The mutant x test matrix as a Markdown table (column = grade_id without ``test_``)."""
    header = ["mutant", "concept", "CI"] + [c.removeprefix("test_") for c in cells] + ["precise"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in results["mutants"]:
        marks = [_mark(cell, row) for cell in cells]
        lines.append("| " + " | ".join([row["name"], row["concept"], "yes" if row["ci"] else ""]
                                       + marks + ["yes" if row["precise"] else "**no**"]) + " |")
    return "\n".join(lines)


def _percent(part, whole):
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def report(results, cells, meta):
    f = figures(results)
    lines = [
        "# Mutation and variant suite",
        "",
        f"Command: `{meta['command']}` ({meta['date']}); budget `{meta['budget']}`; "
        f"{f['mutants']} mutants, {f['variants']} variants and the reference graded by one real "
        f"`nbgrader autograde` in {meta['minutes']:.0f} min.",
        "",
        "| figure | value |", "|---|---|",
        f"| mutation score (mutants that lost points) | {_percent(f['killed'], f['mutants'])} |",
        f"| precision (lost only their own concept's cells) | {_percent(f['precise'], f['mutants'])} |",
        f"| lost exactly the cells they name | {_percent(f['as_designed'], f['mutants'])} |",
        f"| variants with full marks | {_percent(f['variants_full_marks'], f['variants'])} |",
        f"| reference full marks | {'yes' if f['reference_full_marks'] else '**no**'} |",
        "",
        "`X`: lost, as the mutant names; `X!`: lost, not named; `miss`: named, not lost.",
        "",
        matrix(results, cells),
        "",
    ]
    imprecise = [m for m in results["mutants"] if not m["precise"]]
    if imprecise:
        lines += ["Mutants that lose points outside their concept, and why:", ""]
        lines += [f"- `{m['name']}` ({m['concept']}): loses {', '.join(m['lost']) or 'nothing'}. "
                  f"{m['note']}" for m in imprecise] + [""]
    lines += ["| variant | note | result |", "|---|---|---|"]
    lines += [f"| {v['name']} | {v['note']} | "
              f"{'full marks' if not v['lost'] else '**lost ' + ', '.join(v['lost']) + '**'} |"
              for v in results["variants"]]
    lines += ["", "What the feedback says in each lost cell:", "", "| mutant | cell | message |",
              "|---|---|---|"]
    for m in results["mutants"]:
        for cell in m["lost"]:
            message = m["messages"].get(cell, "(no error output)").replace("|", "\\|")
            message = " ".join(message.split())
            lines.append(f"| {m['name']} | {cell.removeprefix('test_')} | "
                         f"{message[:220] + ('…' if len(message) > 220 else '')} |")
    return "\n".join(lines) + "\n"


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.lab.mutation_report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="grading", help="budget to grade with (default grading)")
    parser.add_argument("--ci", action="store_true", help="only the mutants and variants CI grades")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--publish", action="store_true", help="write to docs/mutation")
    parser.add_argument("--workdir", type=Path,
                        help="keep the graded course folder here (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    mutants = mutations.CI_MUTANTS if args.ci else mutations.MUTANTS
    variants_ = variants.CI_VARIANTS if args.ci else variants.VARIANTS
    out = args.out or (PUBLISHED_DIR if args.publish else ROOT / ".cache" / "mutants")
    started = time.monotonic()
    print(f"grading the reference, {len(variants_)} variants and {len(mutants)} mutants "
          f"(budget {args.budget!r}) with nbgrader autograde...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="cnnkit-mutants-") as scratch:
        directory = grade(args.workdir or scratch, variants_ + mutants, args.budget)
        results = collect(directory, mutants, variants_)
    meta = {"command": "python -m cnnkit_tools.lab.mutation_report " + " ".join(argv), "budget": args.budget,
            "date": datetime.date.today().isoformat(), "minutes": (time.monotonic() - started) / 60}
    write(out, results, meta)
    f = figures(results)
    return 0 if f["reference_full_marks"] and f["variants_full_marks"] == f["variants"] \
        and f["killed"] == f["mutants"] else 1


def write(out, results, meta):
    """Print the report, and write it and the raw results into ``out``."""
    text = report(results, list(test_cells()), meta)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    (out / "results.json").write_text(json.dumps(dict(meta, figures=figures(results), **results),
                                                 indent=2) + "\n")
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())

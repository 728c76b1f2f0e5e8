"""Calibrate the held-out accuracy threshold from measurements, and publish the figures.

    python -m cnnkit_tools.lab.calibrate [--seeds K] [--budget NAME] [--broken-seeds B] [--out DIR]
                               [--broken LABEL ...] [--also MUTANT ...] [--publish]
    ./kit calibrate --seeds 20 --publish        # the published figures (docs/calibration/)

1. Trains the dropout model with the notebook's own code (:mod:`cnnkit.solution_code`) under
   the budget, once per seed 1..K, and measures its accuracy on the held-out images with the
   grader's own :func:`cnnkit_grader.boundary.measurement.heldout_accuracy`.
2. Does the same, for seeds 1..B, for broken configurations (the reference with one mutant's
   edits): never trained, MSE loss, logits fed to ``from_logits=False``, 10x Adam's learning
   rate (``--broken`` picks some, for a quick check); and for any mutant named with
   ``--also``, for information.
3. Sets the threshold by RULE below, and writes into DIR ``report.md``, ``calibration.json``,
   ``calibration.png`` (seaborn) and ``thresholds.json``, in the format ``cnnkit.budget`` reads.

DIR defaults to ``.cache/calibration/BUDGET``. ``--publish`` (needs K >= 20) makes it
``docs/calibration/BUDGET`` and writes the
threshold into ``cnnkit_grader/judge/thresholds.json``, the file the grader reads, instead of DIR, for
every budget that trains the dropout model the same way. The exit status is 1 when the rule cannot be met;
then no thresholds file is written, but the report says why.
"""

import argparse
import datetime
import json
import math
import statistics
import sys
import time
from pathlib import Path

from cnnkit import budget
from cnnkit_grader.judge import thresholds

from .. import course
from . import mutations, solution_code

# RULE: the threshold is the mean minus Z standard deviations of the reference's accuracy,
# and never above the worst reference seed, rounded down to STEP. Every broken configuration
# must then stay at least GAP below it. Z = 4 puts a normally distributed correct
# submission's chance of failing near 3 in 100,000; GAP = 0.10 is the distance from chance
# (0.10 for ten classes) to 0.20.
Z = 4.0
STEP = 0.01
GAP = 0.10
MIN_PUBLISHED_SEEDS = 20
# Broken configurations, by the mutant that makes each: label -> mutant name.
BROKEN = {"untrained": "untrained", "wrong loss (MSE)": "mse_loss",
          "logits mismatch": "logits_mismatch", "learning rate 10x": "adam_lr_10x"}
ROOT = course.ROOT
PUBLISHED_DIR = ROOT / "docs" / "calibration"  # one folder per budget


def log(message):
    print(message, file=sys.stderr, flush=True)


def measure(change, seeds, budget_name, label):
    """``{seed: held-out accuracy}`` of the dropout model that the (changed) reference trains."""
    from cnnkit_grader.boundary.measurement import heldout_accuracy

    sources = solution_code.cell_sources(change)
    accuracy = {}
    for seed in seeds:
        started = time.monotonic()
        model = solution_code.train_dropout_model(sources, seed, budget_name)
        accuracy[seed] = round(heldout_accuracy(model), 4)
        log(f"  {label}, seed {seed}: {accuracy[seed]:.4f} ({time.monotonic() - started:.0f} s)")
    return accuracy


def threshold_for(accuracies):
    mean, std = statistics.mean(accuracies), statistics.stdev(accuracies)
    highest = min(mean - Z * std, min(accuracies) - STEP)
    return round(math.floor(highest / STEP + 1e-9) * STEP, 2)


def assess(reference, broken):
    """The threshold, its margins and any broken rule, from the measured accuracies."""
    values = list(reference.values())
    mean, std, low = statistics.mean(values), statistics.stdev(values), min(values)
    threshold = threshold_for(values)
    worst_broken = max(max(b["accuracy"].values()) for b in broken.values())
    problems = [f"{label} reaches {max(b['accuracy'].values()):.4f}, less than {GAP} below the "
                f"threshold {threshold:.2f}" for label, b in broken.items()
                if max(b["accuracy"].values()) > threshold - GAP + 1e-9]
    problems += [f"reference seed {seed} ({acc:.4f}) is below the threshold"
                 for seed, acc in reference.items() if acc < threshold]
    return {
        "reference": {"min": low, "mean": round(mean, 4), "std": round(std, 4),
                      "max": max(values)},
        "threshold": threshold,
        "margin": {"below_worst_seed": round(low - threshold, 4),
                   "below_worst_seed_in_std": round((low - threshold) / std, 1) if std else None,
                   "below_mean_in_std": round((mean - threshold) / std, 1) if std else None,
                   "above_worst_broken": round(threshold - worst_broken, 4)},
        "false_fails": sum(acc < threshold for acc in values),
        "problems": problems,
    }


def sharing_training(name):
    """Budgets that train the dropout model exactly as ``name`` does: one threshold fits all."""
    b = budget.BUDGETS[name]
    key = (b.n_train, b.epochs, b.batch_size, b.seed)
    return [other.name for other in budget.BUDGETS.values()
            if (other.n_train, other.epochs, other.batch_size, other.seed) == key]


def thresholds_entry(result):
    b = budget.BUDGETS[result["budget"]]
    return {"heldout_threshold": result["threshold"],
            "training": {"n_train": b.n_train, "epochs": b.epochs, "batch_size": b.batch_size},
            "calibration": {"budget": result["budget"], "seeds": len(result["seeds"]),
                            "date": result["date"],
                            "reference": result["reference"],
                            "worst_broken": max(max(b["accuracy"].values())
                                                for b in result["broken"].values())}}


ABOUT = ("Held-out accuracy that the dropout model must reach, per budget; "
         "cnnkit_grader.judge.thresholds reads it and cnnkit_grader.judge.rules.heldout applies it. "
         "Written by `python -m cnnkit_tools.lab.calibrate --publish` (./kit calibrate); the figures behind "
         "each value are in docs/calibration/.")


def write_thresholds(path, result):
    """Set the calibrated budgets' entries in a thresholds file, keeping the others."""
    path = Path(path)
    content = json.loads(path.read_text()) if path.is_file() else {"budgets": {}}
    content = {"about": ABOUT, "budgets": content.get("budgets", {})}
    for name in sharing_training(result["budget"]):
        content["budgets"][name] = thresholds_entry(result)
    path.write_text(json.dumps(content, indent=2) + "\n")


def plot(path, result):
    """Reference accuracies (histogram), and every configuration (strip plot), with the threshold."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    threshold, reference = result["threshold"], list(result["reference_accuracy"].values())
    rows = [("reference", f"reference ({len(reference)} seeds)", acc) for acc in reference]
    for group, key in (("broken", "broken"), ("other mutant", "also")):
        rows += [(group, label, acc) for label, entry in result[key].items()
                 for acc in entry["accuracy"].values()]
    frame = pd.DataFrame(rows, columns=["kind", "configuration", "held-out accuracy"])

    sns.set_theme(style="whitegrid")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 2.4 + 0.45 * frame["configuration"].nunique()),
                                      height_ratios=(1, 1.2))
    sns.histplot(x=reference, ax=top, binwidth=0.005, color="tab:blue")
    sns.rugplot(x=reference, ax=top, color="tab:blue", height=0.08)
    top.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    top.set(xlabel="held-out accuracy of the reference", ylabel="seeds",
            title=f"Budget '{result['budget']}': {result['training']}")
    sns.stripplot(data=frame, x="held-out accuracy", y="configuration", hue="kind", ax=bottom,
                  size=7, jitter=0.15, palette={"reference": "tab:blue", "broken": "tab:red",
                                                "other mutant": "tab:gray"})
    bottom.set(xlim=(0, max(frame["held-out accuracy"]) + 0.05), ylabel="")
    for ax in (top, bottom):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.5)
    top.text(threshold, top.get_ylim()[1] * 0.95, f" threshold {threshold:.2f}", va="top")
    bottom.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(result):
    """The calibration as Markdown."""
    ref, margin = result["reference"], result["margin"]
    lines = [
        f"# Held-out accuracy calibration, budget `{result['budget']}`",
        "",
        f"Command: `{result['command']}` ({result['date']}, {result['minutes']:.0f} min). "
        f"Training: {result['training']}. The dropout model is trained by the source notebook's "
        "own cells (setup, data, build_model, compile_model, train, dropout), reseeded before "
        "build_model; the training/validation split keeps the grader's seed. Accuracy is "
        "measured by the grader's `cnnkit_grader.boundary.measurement.heldout_accuracy` on the 10,000 held-out images.",
        "",
        f"Rule: threshold = min(mean − {Z:g}·std, worst seed − {STEP}), rounded down to {STEP}; "
        f"every broken configuration must stay at least {GAP} below it.",
        "",
        "| figure | value |", "|---|---|",
        f"| reference seeds | {len(result['seeds'])} ({result['seeds'][0]}–{result['seeds'][-1]}) |",
        f"| reference min / mean / max | {ref['min']:.4f} / {ref['mean']:.4f} / {ref['max']:.4f} |",
        f"| reference standard deviation | {ref['std']:.4f} |",
        f"| **threshold** | **{result['threshold']:.2f}** |",
        f"| margin below the worst seed | {margin['below_worst_seed']:.4f} "
        f"({margin['below_worst_seed_in_std']} std) |",
        f"| margin below the mean | {margin['below_mean_in_std']} std |",
        f"| reference seeds below the threshold (false fails) | {result['false_fails']} |",
        f"| margin above the best broken configuration | {margin['above_worst_broken']:.4f} |",
        "",
        "| configuration | mutant | seeds | held-out accuracy | below the threshold by |",
        "|---|---|---|---|---|",
    ]
    for key in ("broken", "also"):
        for label, entry in result[key].items():
            values = list(entry["accuracy"].values())
            lines.append(f"| {label}{'' if key == 'broken' else ' (information)'} | `{entry['mutant']}` | "
                         f"{len(values)} | {', '.join(f'{v:.4f}' for v in values)} | "
                         f"{result['threshold'] - max(values):+.4f} |")
    lines += ["", "The held-out test itself never scores the MSE or logits-mismatch models: Part C "
              "charges those mistakes, and the held-out test then asks only that the model was "
              "trained. They are here to show what a wrong loss costs in accuracy.",
              "", "Reference accuracy per seed:", "",
              "| seed | " + " | ".join(str(s) for s in result["seeds"]) + " |",
              "|---" * (len(result["seeds"]) + 1) + "|",
              "| accuracy | " + " | ".join(f"{a:.4f}" for a in result["reference_accuracy"].values())
              + " |", ""]
    if result["problems"]:
        lines += ["**The rule is not met; no thresholds were written:**", ""]
        lines += [f"- {problem}" for problem in result["problems"]] + [""]
    lines += ["![calibration](calibration.png)", ""]
    return "\n".join(lines)


def calibrate(budget_name, seeds, broken_seeds, broken_labels=tuple(BROKEN), also=()):
    started = time.monotonic()
    b = budget.BUDGETS[budget_name]
    log(f"calibrating budget {budget_name!r}: {b.n_train} images x {b.epochs} epochs, "
        f"{len(seeds)} reference seeds, {len(broken_seeds)} per broken configuration")
    reference = measure(None, seeds, budget_name, "reference")
    broken = {label: {"mutant": name, "accuracy": measure(mutations.by_name(name), broken_seeds,
                                                          budget_name, label)}
              for label, name in BROKEN.items() if label in broken_labels}
    others = {name: {"mutant": name, "accuracy": measure(mutations.by_name(name), broken_seeds,
                                                         budget_name, name)}
              for name in also}
    result = {"budget": budget_name, "seeds": list(seeds),
              "training": f"{b.n_train:,} images x {b.epochs} epochs, batches of {b.batch_size}",
              "reference_accuracy": reference, "broken": broken, "also": others,
              "rule": {"z": Z, "step": STEP, "gap": GAP},
              "date": datetime.date.today().isoformat(),
              "minutes": (time.monotonic() - started) / 60}
    result.update(assess(reference, broken))
    return result


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.lab.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="reference seeds, 1..K (default 3)")
    parser.add_argument("--broken-seeds", type=int, default=3,
                        help="seeds per broken configuration (default 3, at most --seeds)")
    parser.add_argument("--budget", default="grading", choices=sorted(budget.BUDGETS))
    parser.add_argument("--out", type=Path, help="output folder (default .cache/calibration, "
                        "or docs/calibration with --publish)")
    parser.add_argument("--broken", nargs="+", default=list(BROKEN), choices=list(BROKEN),
                        metavar="LABEL", help=f"broken configurations to train (default all: {list(BROKEN)})")
    parser.add_argument("--also", nargs="*", default=[], metavar="MUTANT",
                        help="other mutants to measure, for information")
    parser.add_argument("--publish", action="store_true",
                        help=f"write cnnkit_grader/judge/thresholds.json too (needs --seeds >= {MIN_PUBLISHED_SEEDS})")
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.broken_seeds < 1:
        parser.error("need --seeds >= 2 (for a standard deviation) and --broken-seeds >= 1")
    if args.publish and (args.seeds < MIN_PUBLISHED_SEEDS or args.broken != list(BROKEN)):
        parser.error(f"--publish needs --seeds >= {MIN_PUBLISHED_SEEDS} and every broken configuration")
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    out = args.out or (PUBLISHED_DIR if args.publish else ROOT / ".cache" / "calibration") / args.budget
    result = calibrate(args.budget, range(1, args.seeds + 1),
                       range(1, min(args.broken_seeds, args.seeds) + 1), args.broken, args.also)
    result["command"] = "python -m cnnkit_tools.lab.calibrate " + " ".join(
        sys.argv[1:] if argv is None else argv)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(out / "calibration.png", result)
    (out / "report.md").write_text(report(result))
    ok = not result["problems"]
    if ok:  # published thresholds go only to the file the grader reads, never to a copy
        write_thresholds(thresholds.THRESHOLDS_FILE if args.publish else out / "thresholds.json", result)
    print(report(result))
    print(f"written to {out}" + (f" and {thresholds.THRESHOLDS_FILE}" if ok and args.publish else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

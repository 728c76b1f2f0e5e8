"""The grading record: what ``GuardedExecute`` found for one submission, for ``ScoreOutside``.

One typed hand-off instead of a dict of loose keys. ``GuardedExecute`` builds it (it alone
writes the facts: folders, budget, threshold, answers, faults, notes, phases) and puts it in
``resources["cnnkit"]``; ``ScoreOutside`` and ``FinishRecord`` only read it. The budget and
the held-out threshold are resolved here, once per grading, and written into the autograded
notebook's metadata, where ``./kit grade``, the report and the feedback read them back.

The record also owns the answers folder it names: ``discard_answers`` removes it once the
verdicts are written, and ``make_answers`` makes it: one owner makes and deletes it.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cnnkit import budget as budgets

from cnnkit_grader.boundary import files, sandbox
from cnnkit_grader.boundary.phases import Phases
from cnnkit_grader.judge import thresholds


@dataclass
class GradingRecord:
    phases: Phases
    student_dir: str
    budget: budgets.Budget
    threshold: float = None
    sandbox: str = "on"                          # "off": graded without isolation (a warning note says so)
    intake: dict = field(default_factory=dict)   # what SafeAutograde found reading the submission
    notes: list = field(default_factory=list)    # the grader's notes, shown above the first cell
    untouched: bool = False                      # the release untouched: nothing ran (untouched.py)
    fresh: dict = None                           # the inputs drawn for the probe (fresh.draw)
    answers: Path = None                         # the folder of handed-over answers and model files
    models: dict = field(default_factory=dict)   # model name -> judge.evidence.Model, checked and measured
    fault: dict = None                           # {"kind", "message", "cell"}: what stopped the notebook
    not_run: list = field(default_factory=list)  # graded cells the fault kept from running
    scored_at: float = None                      # when ScoreOutside finished (FinishRecord's last phase)

    @classmethod
    def start(cls, student_dir, intake):
        """A record for one submission, with the budget and its threshold resolved once, now."""
        budget = budgets.current()
        return cls(phases=Phases(), student_dir=str(student_dir), budget=budget,
                   threshold=thresholds.heldout_threshold(budget.name),
                   sandbox="on" if sandbox.enabled() else "off", intake=dict(intake),
                   notes=list(intake.get("notes", [])))

    @property
    def unreadable(self):
        return self.intake.get("outcome") == "unreadable"

    @property
    def outcome(self):
        return self.intake.get("outcome") or ("fault" if self.fault else "graded")

    def metadata(self):
        """What the autograded notebook's ``metadata["cnnkit"]`` records of this grading."""
        return {"outcome": self.outcome, "fault": self.fault, "not_run": list(self.not_run), "notes": list(self.notes),
                "sandbox": self.sandbox, "budget": self.budget.name, "threshold": self.threshold}

    def make_answers(self, log=None):
        """The private folder the kernel's hand-over and the probe put answers and model files in."""
        self.answers = files.process_folder("cnnkit-answers-", log)
        return self.answers

    def discard_answers(self):
        if self.answers:
            shutil.rmtree(self.answers, ignore_errors=True)


def of(resources, step):
    """The record GuardedExecute left in ``resources``; a grader error naming ``step`` without it."""
    found = resources.get("cnnkit")
    if not isinstance(found, GradingRecord):
        raise RuntimeError(f"{step} needs cnnkit_grader.plugins.execute.GuardedExecute before it in "
                           "Autograde.autograde_preprocessors (see nbgrader_config.py).")
    return found

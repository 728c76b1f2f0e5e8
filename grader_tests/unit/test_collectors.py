"""The real collectors feed the real rules: evidence the fast tier does not write by hand.

``evidence_cases.py`` writes evidence records by hand for the rule tests, so the shapes the
rules read could drift from what ``inside/probe.py`` and ``inside/measure.py`` produce. Here the
probe's own request (``boundary.probe.request``) is run as the probe runs it, on the reference
and on mutants of the probe's parts (A-D and F, which need no training), the model files it
saves are read by ``modelfile`` and measured by ``inside/measure.py``, and the rules judge the
result. The reference must pass every one of those cells, and each mutant must lose exactly
the cells ``lab.mutations`` says it loses there.
"""

import json
from pathlib import Path

import pytest

from cnnkit.budget import BUDGETS
from cnnkit_grader.boundary import fresh, measurement
from cnnkit_grader.boundary import probe as probe_request
from cnnkit_grader.inside import probe
from cnnkit_grader.judge import tasks
from cnnkit_grader.judge.evidence import Evidence
from cnnkit_grader.plugins import selfcheck
from cnnkit_tools import submissions
from cnnkit_tools.lab import mutations

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]

ANSWERS = tasks.probe_answers()                  # every probe answer but Part E's (which trains)
CELLS = sorted(g for g, task in tasks.TASKS.items() if task.answer in ANSWERS)
# The answer cells those answers come from: a mutant that edits only these is judged here.
PROBED = set(tasks.FUNCTION_CELLS) - set(tasks.ISOLATED) | {tasks.UPDATES_CELL}
MUTANTS = [m for m in mutations.MUTANTS if {e.cell for e in m.edits} <= PROBED and m.fails & set(CELLS)]


def evidence(nb, folder):
    """What autograde's probe would hand the rules for ``nb``: its request, run in this process."""
    inputs = fresh.draw(1234)
    request = probe_request.request(nb, inputs)
    assert tuple(request["answers"]) == ANSWERS
    ns = {"__name__": "__main__"}
    with selfcheck.silenced():
        probe.run(request["setup"], ns)
        for cell in request["cells"]:
            probe.run(cell["source"], ns, whole=cell["whole"])
        collector = probe.Probe(request, arrays={}, out=folder)
        answers = {answer: probe.collect(collector, answer, ns) for answer in request["answers"]}
        answers = json.loads(json.dumps(answers, default=repr))   # as the trusted side reads answers.json
        paths = measurement.model_paths(folder)
        models = measurement.check_files(paths)
        nothing = {"seed": inputs["seed"], "call": (1, 1), "train": (None, None), "val": (None, None)}
        selfcheck.measure_here(paths, models, measurement.measure_asks(paths), BUDGETS["smoke"], nothing)
    return Evidence(budget=BUDGETS["smoke"], fresh=inputs, answers=answers, models=models)


def failed(nb, folder):
    found = evidence(nb, folder)
    return {g for g in CELLS if not tasks.judge(g, found).passed}


@pytest.fixture(scope="module")
def reference():
    source, release = submissions.source_and_release(ROOT)
    return submissions.reference(source, release)


def test_the_collectors_hand_the_reference_what_passes_every_probed_cell(reference, tmp_path):
    found = evidence(reference, tmp_path)
    assert {a for a, record in found.answers.items() if "values" in record} == set(ANSWERS)
    assert {"base", "compiled"} <= set(found.models) and all(m.measured and "error" not in m.measured
                                                             for m in found.models.values())
    assert {g: tasks.judge(g, found).message for g in CELLS if not tasks.judge(g, found).passed} == {}


def test_the_mutants_are_judged_here():
    assert {m.concept for m in MUTANTS} >= {"architecture", "regression losses", "loss", "optimizer",
                                             "metrics", "epochs and batches", "plotting"}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_loses_exactly_its_probed_cells(reference, mutant, tmp_path):
    assert failed(submissions.apply(reference, mutant), tmp_path) == mutant.fails & set(CELLS)

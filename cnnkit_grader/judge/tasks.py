"""The one table: every graded cell, where its answer comes from, and which rule judges it.

Each graded test cell of the notebook (by nbgrader ``grade_id``) has one row:

- ``part`` and ``concept``: where it sits in the notebook, and the idea it tests (the mutation
  suite counts a mistake as *precise* when it loses only its own concept's cells);
- ``answer``: what is collected to judge it. A *probe* answer comes from calling the student's
  functions with fresh inputs in a clean sandboxed process (``inside/probe.py``); a *kernel*
  answer is handed over by the notebook's own kernel after the cell runs
  (``inside/handover.py``): the trained models, which are then measured, not believed;
- ``rule``: the function of :mod:`cnnkit_grader.judge.rules` that judges the evidence.

Nothing else in the grader names a graded cell.
"""

from dataclasses import dataclass

import cnnkit_grader.inside.names as names
from cnnkit_grader.judge import rules
from cnnkit_grader.judge.evidence import Fail


def grade_id(cell):
    """A notebook cell's nbgrader ``grade_id``, or None for a cell nbgrader does not track."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def graded_id(cell):
    """The ``grade_id`` of a code cell nbgrader scores (a test or an autograded answer), else None."""
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") and cell.cell_type == "code" else None


def is_test(cell):
    """An autograded test cell: scored code the student does not write."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


@dataclass(frozen=True)
class Task:
    part: str
    concept: str
    answer: str
    rule: object


TASKS = {
    "test_build_form": Task("A", "architecture", "build", rules.build_form),
    "test_build_structure": Task("A", "architecture", "build", rules.build_structure),
    "test_regression_losses": Task("B", "regression losses", "regression", rules.regression),
    "test_compile_form": Task("C", "compiling", "compiled", rules.compile_form),
    "test_compile_loss": Task("C", "loss", "compiled", rules.compile_loss),
    "test_compile_optimizer": Task("C", "optimizer", "compiled", rules.compile_optimizer),
    "test_compile_metrics": Task("C", "metrics", "compiled", rules.compile_metrics),
    "test_updates_per_epoch": Task("D", "epochs and batches", "updates", rules.updates),
    "test_train_form": Task("E", "training", "train", rules.train_form),
    "test_train_history": Task("E", "training", "train", rules.train_history),
    "test_plot_form": Task("F", "plotting", "plot", rules.plot_form),
    "test_plot_content": Task("F", "plotting", "plot", rules.plot_content),
    "test_dropout_form": Task("G", "dropout layer", "dropout", rules.dropout_form),
    "test_dropout_layer": Task("G", "dropout layer", "dropout", rules.dropout_layer),
    # Only the held-out test can see a learning rate that ruins training, or no training.
    "test_heldout_accuracy": Task("G", "training the dropout model", "dropout", rules.heldout),
    "test_tuning_form": Task("H", "tuning", "tuning", rules.tuning_form),
    "test_tuning_best": Task("H", "tuning", "tuning", rules.tuning_best),
    "test_save_form": Task("I", "saving", "saving", rules.save_form),
    "test_save_best": Task("I", "saving", "saving", rules.save_best),
}

# Answers the probe collects by calling the student's functions, in this order, and the
# notebook cells (by grade_id) it runs to define them. The setup cell is locked (nbgrader
# restores it), so it runs whole; the answer cells that define functions run whole too;
# every other cell lends the probe only its imports, functions and classes.
PROBE_ANSWERS = ("build", "regression", "compiled", "updates", "train", "plot")
SETUP_CELL = "setup"
DATA_CELL = "data"             # never run by the probe: it gets fresh images instead
FUNCTION_CELLS = ("build_model", "regression_losses", "compile_model", "train", "plot_history")
UPDATES_CELL = "updates_per_epoch"   # run whole, with fresh N_TRAIN and BATCH_SIZE

# Answers collected by a probe process of their own, which runs the setup cell and only the
# named cells: no other cell's code (a class body is code) shares a process with its collector,
# so none can replace it. Part E calls train() on the lesson's network, which the grader builds.
ISOLATED = {"train": ("train",)}


def probe_file(isolated=None):
    """The file a probe process writes its answers to: one per process, so none answers for another."""
    return "answers.json" if isolated is None else f"answers-{isolated}.json"


def probe_answers(isolated=None):
    """The answers one probe process collects: the isolated one's, or every other probe answer."""
    return (isolated,) if isolated is not None else tuple(a for a in PROBE_ANSWERS if a not in ISOLATED)

# Answers the kernel hands over after a graded cell: the models the notebook trained.
KERNEL_ANSWERS = ("dropout", "tuning", "saving")

# The answer cell at whose start the measurement is handed the grader's inputs and begins the work
# that needs no student model (``inside.measure.ahead``): Part H's cell builds and traces small
# models and leaves a core idle, where the setup's imports and Part G's training keep both busy.
MEASURE_AHEAD_CELL = "tune_dropout"

# Part G's rules compare model_dropout with build_model() and compile_model(...): the answers a
# rule reads besides its own (autograde collects every answer anyway; selfcheck only these).
ALSO = {"dropout": ("build", "compiled")}

# The model files each answer brings, and the validation set each is measured on.
MODELS = {"build": ("base",), "compiled": ("compiled",), "train": ("trained",), "dropout": ("dropout",),
          "saving": (names.FINAL_BASE, names.FINAL_DROPOUT)}   # tuning: names.tuned(i); saving: names.saved(file) too
PREDICTS_HELDOUT = ("dropout",)


def concept_cells():
    """{concept: frozenset of grade_ids}: the cells each concept owns."""
    cells = {}
    for grade_id, task in TASKS.items():
        cells.setdefault(task.concept, set()).add(grade_id)
    return {concept: frozenset(ids) for concept, ids in cells.items()}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    failure: str        # "<grade_id without test_>.<failure id>", or None when passed
    message: str        # what the student sees ("" when there is nothing to say)
    measured: dict = None


UNTOUCHED = ("Not graded: your answer cells are still exactly as released (each still says raise "
             "NotImplementedError), so nothing was run and every test scores 0. Fill in the answer cells, "
             "run the notebook from the top, and submit again.")


UNREADABLE = ("Not graded: your submitted notebook could not be read, so the blank assignment was graded "
              "in its place (see the note at the top) and every test scores 0. Check that your notebook "
              "opens in Jupyter, then submit it again.")


def untouched(grade_id, unreadable=False):
    """The verdict for a graded cell of a submission that is the release untouched (boundary.untouched):
    known without running anything, since every answer cell still raises NotImplementedError. An
    unreadable notebook is graded as the release, so it is untouched too; its message says why."""
    return Verdict(False, "any.untouched", UNREADABLE if unreadable else UNTOUCHED)


def judge(grade_id, evidence):
    """The verdict for one graded cell, from its rule and the evidence."""
    name = grade_id.removeprefix("test_")
    if grade_id in evidence.not_run:
        return Verdict(False, "any.not_run", f"Not run: {evidence.fault}.")
    try:
        note = TASKS[grade_id].rule(evidence)
    except Fail as fail:
        failure = fail.failure if fail.failure.startswith("any.") else f"{name}.{fail.failure}"
        return Verdict(False, failure, fail.message, fail.measured)
    except Exception as err:  # noqa: BLE001 - odd evidence fails this cell, never the submission
        return Verdict(False, "any.grader_error", "The grader could not judge this answer from what your "
                       f"notebook produced ({type(err).__name__}); check that the code above runs as the "
                       "assignment asks, or ask your instructor.")
    if isinstance(note, tuple):
        return Verdict(True, None, note[0], note[1])
    return Verdict(True, None, note or "")

"""Train the dropout model with the notebook's own code, in this process, under any seed.

Calibration must measure the model the grader measures, so it must not keep a copy of the
solution that could drift from the notebook. This module takes the code from the notebook
itself: the locked setup and data cells and the answer cells that build, compile and train
``model_dropout``, as the reference submission holds them (optionally with a mutant's edits),
and runs them with ``exec`` in a fresh namespace.

Only the cells that lead to ``model_dropout`` run; the first model, plots, tuning and saving
are skipped because they do not touch it.
"""

import contextlib
import io
import os

from .. import submissions
from cnnkit.budget import ENV_VAR as BUDGET_ENV

# Notebook cells, by nbgrader grade_id, that define and train model_dropout, in notebook order.
CELLS = ("setup", "data", "build_model", "compile_model", "train", "dropout")


def cell_sources(change=None, root=None):
    """``{grade_id: code}`` for CELLS, from the reference submission with ``change`` applied."""
    from ..course import ROOT

    nb = submissions.reference(*submissions.source_and_release(root or ROOT))
    if change is not None:
        nb = submissions.apply(nb, change)
    sources = {submissions.grade_id(cell): cell.source for cell in nb.cells}
    missing = [name for name in CELLS if name not in sources]
    if missing:
        raise ValueError(f"the notebook has no cells with grade_id {missing}; update "
                         "cnnkit.solution_code.CELLS to match it")
    return {name: sources[name] for name in CELLS}


@contextlib.contextmanager
def _budget(name):
    saved = os.environ.get(BUDGET_ENV)
    os.environ[BUDGET_ENV] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(BUDGET_ENV, None)
        else:
            os.environ[BUDGET_ENV] = saved


def train_dropout_model(sources, seed, budget_name):
    """Run the cells under ``budget_name``, reseeding before the model is built; return model_dropout.

    The split of the training images keeps the budget's seed, as in grading; ``seed`` sets the
    weights' initialisation, the Dropout masks and the batch order, which is what varies
    between two correct submissions graded on the same data.
    """
    import keras

    keras.backend.clear_session()
    namespace = {"__name__": "__calibration__"}
    log = io.StringIO()  # fit's per-epoch lines and the summary: not part of any report
    with _budget(budget_name), contextlib.redirect_stdout(log):
        for name in CELLS:
            if name == "build_model":
                keras.utils.set_random_seed(seed)
            exec(compile(sources[name], f"<cell {name}>", "exec"), namespace)  # noqa: S102
    return namespace["model_dropout"]

"""How much training each context can afford, in one place.

Students get the ``student`` budget. nbgrader sets ``NBGRADER_EXECUTION`` while it runs a
notebook (``autograde`` or ``validate``), and grading then uses the smaller ``grading``
budget so one complete submission grades in under two minutes on 2 CPU cores
(``./kit bench``; docs/speed.md has the figures). ``CNNKIT_BUDGET`` names a
budget explicitly; the kit's own tests use ``smoke`` for speed.

The held-out accuracy a model must reach belongs to the grader, not to this package:
``cnnkit_grader.judge.thresholds`` reads it, by budget name, from the file calibration writes.
"""

import os
from dataclasses import dataclass

ENV_VAR = "CNNKIT_BUDGET"


@dataclass(frozen=True)
class Budget:
    name: str
    n_train: int          # images the main models learn from
    n_val: int            # images held back from training, to compare epochs and models
    epochs: int           # epochs for the model with dropout, the one the grader scores
    baseline_epochs: int  # epochs for the first model, without dropout
    baseline_n_train: int
    tune_n_train: int     # images per run when comparing dropout rates
    tune_epochs: int
    batch_size: int
    dropout_rates: tuple  # the rates Part H compares; the grader's differ from the student's
    seed: int = 42


# On 2 CPU cores (no GPU), 15,000 images x 4 epochs take about 40 s; docs/calibration/ has
# the held-out accuracy they reach over seeds, and what broken configurations reach.
BUDGETS = {
    b.name: b for b in (
        Budget("student", n_train=15_000, n_val=5_000, epochs=4, baseline_epochs=4,
               baseline_n_train=15_000, tune_n_train=4_000, tune_epochs=2, batch_size=32,
               dropout_rates=(0.15, 0.3, 0.45, 0.6, 0.75)),
        Budget("grading", n_train=15_000, n_val=2_000, epochs=4, baseline_epochs=1,
               baseline_n_train=2_000, tune_n_train=500, tune_epochs=1, batch_size=32,
               dropout_rates=(0.1, 0.25, 0.4, 0.55, 0.7)),
        # 4,000 images, not fewer: with 2,000 x 2 a correct model's held-out accuracy spread
        # over 0.20-0.30 by seed, too close to the 0.09-0.16 of broken ones to calibrate.
        # Three rates, not five: each candidate costs about 2 CPU-s of tracing and measuring
        # whatever its 200 images, and the kit's tests grade about 80 notebooks at this budget.
        Budget("smoke", n_train=4_000, n_val=500, epochs=2, baseline_epochs=1,
               baseline_n_train=500, tune_n_train=200, tune_epochs=1, batch_size=32,
               dropout_rates=(0.1, 0.4, 0.7)),
    )
}


def current():
    """The budget for this process: ``$CNNKIT_BUDGET``, else grading under nbgrader, else student."""
    name = os.environ.get(ENV_VAR) or ("grading" if os.environ.get("NBGRADER_EXECUTION") else "student")
    try:
        return BUDGETS[name]
    except KeyError:
        raise ValueError(f"{ENV_VAR}={name!r} is not a budget; choose one of {sorted(BUDGETS)}") from None

"""The hidden tests' in-notebook form: the same verdicts, reached without a sandbox.

A hidden test cell calls ``check(grade_id, globals())``. It runs when an instructor validates
the source notebook; at autograde the executor strips hidden test code and ``ScoreOutside``
reaches the verdict outside the kernel instead. Both paths collect the same answers
(``harvest``) and pass them to the same judges (``verdicts``), so there is one definition of
what each test checks.
"""

import tempfile
from pathlib import Path

from .. import budget as budgets
from ..checks import silenced
from . import harvest, score

# Judges that also need another cell's answers: the dropout model is compared with build_model().
NEEDS = {"test_dropout_layer": ("test_build_structure",)}


def _measure_here(folder, accepted, current):
    """What ``evaluate`` measures, but in this process: the instructor's own, trusted run."""
    import keras

    from .evaluate import measure

    val_images, val_labels, heldout_images, _ = score.grading_data(current)
    arrays = {"val_images": val_images, "val_labels": val_labels, "heldout_images": heldout_images}
    results = {}
    for key, name in accepted.items():
        try:
            model = keras.saving.load_model(Path(folder) / f"{name}.keras", safe_mode=True)
            results[key] = measure(model, arrays, predict=key in score.verdicts.PREDICT)
        except Exception as err:  # noqa: BLE001 - reported per model, as the sandbox does
            results[key] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    return results


def check(grade_id, namespace):
    """Raise AssertionError with the test's message if the cell fails; print its note if any."""
    with tempfile.TemporaryDirectory(prefix="cnnkit-check-") as folder, silenced():
        for grade in NEEDS.get(grade_id, ()) + (grade_id,):
            harvest.collect(grade, namespace, folder)
        evidence = score.gather(Path(folder), Path.cwd(), None, _measure_here, budgets.current())
        passed, message = score.verdicts.judge(grade_id, evidence)
    if not passed:
        raise AssertionError(message)
    if message:
        print(message)

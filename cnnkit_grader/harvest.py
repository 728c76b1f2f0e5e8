"""Kernel side: after a graded test cell, record the student's answers as plain data.

The grader's executor runs ``collect(grade_id, globals(), folder)`` in the student's kernel
right after each graded test cell. It writes ``folder/<grade_id>.json`` (numbers, strings and
lists only) and saves the models that cell is about as ``.keras`` files. The kernel is not
trusted: everything written here is read by ``verdicts`` as untrusted input, checked for type
and size, and the models are checked and evaluated outside the kernel. Faking this output
takes the same knowledge as answering the question, because the verdicts compare it with the
held-out data, with the saved models' own behaviour, and with each other.
"""

import json
import math
import os
from pathlib import Path

# Inputs for the student's functions; the expected outputs live only on the grader's side.
REGRESSION_INPUTS = ([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 7.0])
SYNTHETIC_HISTORY = {"loss": [2.0, 1.5, 1.2], "accuracy": [0.3, 0.45, 0.55],
                     "val_loss": [1.8, 1.6, 1.7], "val_accuracy": [0.35, 0.42, 0.44]}


def _number(value):
    number = float(value)
    return number if math.isfinite(number) else repr(number)


def _save(model, name, folder):
    import keras

    if not isinstance(model, keras.Model):
        return f"not a keras.Model but a {type(model).__name__}"
    model.save(folder / f"{name}.keras")
    return "saved"


def _build(ns, folder):
    return {"base": _save(ns["build_model"](), "base", folder)}


def _regression(ns, folder):
    result = ns["regression_losses"](*REGRESSION_INPUTS)
    return {"result": [_number(v) for v in result] if isinstance(result, (tuple, list)) else repr(result)[:200]}


def _compiled(ns, folder):
    return {"compiled": _save(ns["compile_model"](ns["build_model"]()), "compiled", folder)}


def _updates(ns, folder):
    value = ns["UPDATES_PER_EPOCH"]
    return {"value": value if type(value) is int else repr(value)[:200]}


def _history(ns, folder):
    import keras

    history, model = ns["history"], ns["model"]
    values = {"is_history": type(history).__name__ if not isinstance(history, keras.callbacks.History) else True,
              # fit records its History on the model: a History built by hand is not that object.
              "belongs": getattr(model, "history", None) is history,
              "trained_base": _save(model, "trained_base", folder)}
    if values["is_history"] is True:
        values["curves"] = {str(k): [_number(v) for v in vs] for k, vs in history.history.items()}
    return values


def _frame_data(frame):
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return type(frame).__name__
    return {"index": [_number(i) for i in frame.index], "index_name": str(frame.index.name),
            "columns": {str(c): [_number(v) for v in frame[c]] for c in frame.columns}}


def _plot(ns, folder):
    import keras
    import matplotlib.pyplot as plt

    history = keras.callbacks.History()
    history.history = {k: list(v) for k, v in SYNTHETIC_HISTORY.items()}
    frame = ns["history_frame"](history)
    values = {"frame": _frame_data(frame), "plots": {}}
    for metric in ("accuracy", "loss"):
        plt.close("all")
        plt.figure()
        ax = ns["plot_curves"](frame, metric)
        lines = [[_number(y) for y in line.get_ydata()] for line in ax.get_lines()] \
            if hasattr(ax, "get_lines") else None
        values["plots"][metric] = lines
    plt.close("all")
    return values


def _dropout(ns, folder):
    return {"dropout": _save(ns["model_dropout"], "dropout", folder)}


def _tuning(ns, folder):
    return {"rates": [_number(r) for r in ns["DROPOUT_RATES"]],
            "val_losses": [_number(v) for v in ns["val_losses"]],
            "best_rate": _number(ns["best_rate"])}


def _saving(ns, folder):
    paths = {key: ns[key] for key in ("BASELINE_PATH", "DROPOUT_PATH", "best_model_path")}
    return {**{k: v if type(v) is str else repr(v)[:200] for k, v in paths.items()},
            "final_base": _save(ns["model"], "final_base", folder),
            "final_dropout": _save(ns["model_dropout"], "final_dropout", folder)}


COLLECTORS = {
    "test_build_form": _build, "test_build_structure": _build,
    "test_regression_losses": _regression,
    "test_compile_form": _compiled, "test_compile_loss": _compiled,
    "test_compile_optimizer": _compiled, "test_compile_metrics": _compiled,
    "test_updates_per_epoch": _updates,
    "test_train_form": _history, "test_train_history": _history,
    "test_plot_form": _plot, "test_plot_content": _plot,
    "test_dropout_form": _dropout, "test_dropout_layer": _dropout, "test_heldout_accuracy": _dropout,
    "test_tuning_form": _tuning, "test_tuning_best": _tuning,
    "test_save_form": _saving, "test_save_best": _saving,
}


def collect(grade_id, ns, folder):
    """Write ``folder/<grade_id>.json``: the answers the cell is about, or why they are missing."""
    import contextlib
    import io
    import warnings

    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    record = {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            record["values"] = COLLECTORS[grade_id](ns, folder)
        except KeyError as err:
            record["error"] = f"{err.args[0]} is not defined"
        except Exception as err:  # noqa: BLE001 - the student's code may raise anything
            record["error"] = f"{type(err).__name__}: {err}"[:500]
    # Every cell that asks for the same answers gets them now, so the grader asks once.
    for grade in [g for g, collector in COLLECTORS.items() if collector is COLLECTORS[grade_id]]:
        tmp = folder / f".{grade}.json"
        tmp.write_text(json.dumps(record, default=repr))
        os.replace(tmp, folder / f"{grade}.json")

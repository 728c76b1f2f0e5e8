"""Kernel side: save the models and values a graded cell is about, as files and plain JSON.

``GuardedExecute`` sends this file's *text* to the student's kernel (it is not importable
there) and calls ``handover(answer, globals(), folder)``. The student's code shares that
process and can change anything in it, so the trusted side believes none of it: each model
file is read as JSON against an allowlist and measured in a separate process, and each
number is checked against those measurements.
"""

import json
import math
import os

if "names" not in globals():
    # Imported as a module (selfcheck, the tests). In the graded kernel this file's text is run
    # by GuardedExecute._handover, which cannot import the grader there and passes ``names`` in.
    from cnnkit_grader.inside import names


def number(value):
    """A finite float as itself; anything else as its repr (which no rule accepts as a number)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return repr(value)[:200]
    return result if math.isfinite(result) else repr(result)


def save(model, name, folder):
    import keras

    if not isinstance(model, keras.Model):
        return f"not a keras.Model but a {type(model).__name__}"
    model.save(os.path.join(folder, name + names.MODEL_SUFFIX))
    return names.SAVED


def dropout(ns, folder):
    return {"dropout": save(ns["model_dropout"], "dropout", folder)}


def tuning(ns, folder):
    rates, kept = list(ns["DROPOUT_RATES"]), ns["tuned_models"]
    tuned = [save(kept.get(rate) if isinstance(kept, dict) else None, names.tuned(i), folder)
             for i, rate in enumerate(rates)]
    return {"rates": [number(rate) for rate in rates], "val_losses": [number(v) for v in ns["val_losses"]],
            "best_rate": number(ns["best_rate"]), "tuned": tuned}


def saving(ns, folder):
    paths = {key: ns[key] for key in (*names.SAVED_PATHS, "best_model_path")}
    return {**{key: value if type(value) is str else repr(value)[:200] for key, value in paths.items()},
            names.FINAL_BASE: save(ns["model"], names.FINAL_BASE, folder),
            names.FINAL_DROPOUT: save(ns["model_dropout"], names.FINAL_DROPOUT, folder)}


COLLECT = {"dropout": dropout, "tuning": tuning, "saving": saving}


def collect(answer, ns, folder):
    """``{"values": ...}``, or ``{"error": ...}`` when the notebook's state cannot give the answer."""
    import contextlib
    import io
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return {"values": COLLECT[answer](ns, folder)}
        except KeyError as err:
            return {"error": f"NameError: {err.args[0]} is not defined"}
        except Exception as err:  # noqa: BLE001 - the student's code may raise anything
            return {"error": f"{type(err).__name__}: {err}"[:500]}


def handover(answer, ns, folder):
    """Write ``folder/<answer>.json`` (and the answer's model files)."""
    record = collect(answer, ns, folder)
    tmp = os.path.join(folder, f".{answer}.json")
    with open(tmp, "w") as out:
        json.dump(record, out, default=repr)
    os.replace(tmp, os.path.join(folder, f"{answer}.json"))

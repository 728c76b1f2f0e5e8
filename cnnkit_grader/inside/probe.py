"""Sandbox side: define the student's functions in a clean process and call them with fresh inputs.

Run by ``GuardedExecute`` as ``python -m cnnkit_grader.inside.probe IMAGES OUT`` in a sandbox
of its own (no network, no data but the few images in IMAGES, write access to OUT only),
while the notebook runs in the kernel. The request (the cells, the fresh inputs drawn by the
trusted side) arrives on standard input, which is read and closed before any student code runs;
``IMAGES/arrays.npz`` holds Part E's images. It writes ``OUT/answers.json`` after each answer,
and the models it was asked to save, then leaves at once (no exit hook of the student's runs).

The grader starts one such process per set of answers (``tasks.probe_answers``): Part E's runs
only the setup cell and the ``train`` cell, and trains the lesson's network (``lesson``), so no
other cell's code shares a process with its collector.

The answers are untrusted: the student's code runs in this process too. The trusted side
compares them with what the fresh inputs must give, and measures the model files again in a
process that runs no student code. Nothing here can see the expected values.
"""

import ast
import contextlib
import io
import json
import os
import sys
import warnings
from pathlib import Path

from cnnkit_grader.inside import lesson
from cnnkit_grader.inside.handover import number, save


def _python(source):
    """The cell's Python, with IPython's magics turned into calls (that fail here, harmlessly)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read defines nothing
        return ""


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def run(source, ns, whole=True):
    """Run a cell statement by statement; with whole=False only its imports, functions and classes."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return
    for statement in tree.body:
        if whole or isinstance(statement, DEFINITIONS):
            try:
                exec(compile(ast.Module([statement], []), "<cell>", "exec"), ns)  # noqa: S102
            except BaseException as err:  # noqa: BLE001 - student code; SystemExit included
                if isinstance(err, KeyboardInterrupt):
                    raise


def _frame_data(frame):
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return type(frame).__name__
    return {"index": [number(i) for i in frame.index], "index_name": str(frame.index.name),
            "columns": {str(c): [number(v) for v in frame[c]] for c in frame.columns}}


def _lines(axes):
    if not hasattr(axes, "get_lines"):
        return None
    return [[number(y) for y in line.get_ydata()] for line in axes.get_lines()]


class Probe:
    def __init__(self, request, arrays, out):
        self.request, self.arrays, self.out = request, arrays, str(out)
        self.fresh = request["fresh"]

    def build(self, ns):
        return {"base": save(ns["build_model"](), "base", self.out)}

    def regression(self, ns):
        call = self.fresh["regression"]
        result = ns["regression_losses"](list(call["y_true"]), list(call["y_pred"]))
        return {"result": [number(v) for v in result] if isinstance(result, (tuple, list)) else repr(result)[:200]}

    def compiled(self, ns):
        return {"compiled": save(ns["compile_model"](ns["build_model"]()), "compiled", self.out)}

    def updates(self, ns):
        import numpy as np

        n_train, batch_size = self.fresh["updates"]["n_train"], self.fresh["updates"]["batch_size"]
        # len(train_images) is as good as N_TRAIN: give both, without the memory of real images.
        images = np.broadcast_to(np.zeros((1, 32, 32, 3), "float32"), (n_train, 32, 32, 3))
        labels = np.broadcast_to(np.zeros((1, 1), "uint8"), (n_train, 1))
        ns.update(N_TRAIN=n_train, BATCH_SIZE=batch_size, train_images=images, train_labels=labels)
        if self.request.get("updates_cell") is not None:  # None: judge the value the notebook has
            ns.pop("UPDATES_PER_EPOCH", None)
            run(self.request["updates_cell"], ns)
        value = ns.get("UPDATES_PER_EPOCH")
        return {"value": value if type(value) is int else repr(value)[:200]}

    def train(self, ns):
        import keras

        call = self.fresh["training"]
        scaled = {key: (value.astype("float32") / 255.0 if key.endswith("images") else value)
                  for key, value in self.arrays.items()}
        ns.update(BATCH_SIZE=call["batch_size"], **scaled)
        # The lesson's network, compiled as Part C asks, built here: Part E judges train(), so a
        # mistake in build_model or compile_model is charged by Parts A and C alone.
        model = lesson.compiled(self.fresh["seed"])
        history = ns["train"](model, scaled["train_images"], scaled["train_labels"], call["epochs"])
        record = {"type": "History" if isinstance(history, keras.callbacks.History) else type(history).__name__}
        curves = getattr(history, "history", None)
        if isinstance(curves, dict):
            record["curves"] = {str(key): [number(v) for v in values] if isinstance(values, (list, tuple))
                                else repr(values)[:100] for key, values in curves.items()}
        return {"history": record, "trained": save(model, "trained", self.out)}

    def plot(self, ns):
        import keras
        import matplotlib.pyplot as plt

        history = keras.callbacks.History()
        history.history = {key: list(values) for key, values in self.fresh["history"].items()}
        history.epoch = list(range(len(history.history["loss"])))
        frame = ns["history_frame"](history)
        values = {"frame": _frame_data(frame), "plots": {}}
        for metric in ("accuracy", "loss"):
            plt.close("all")
            plt.figure()
            values["plots"][metric] = _lines(ns["plot_curves"](frame, metric))
        plt.close("all")
        return values


def collect(probe, answer, ns):
    try:
        return {"values": getattr(probe, answer)(ns)}
    except KeyError as err:
        return {"error": f"NameError: {err.args[0]} is not defined"}
    except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
        if isinstance(err, KeyboardInterrupt):
            raise
        return {"error": f"{type(err).__name__}: {err}"[:500]}


def main(request_dir, out_dir):
    import numpy as np

    request = json.loads(sys.stdin.read())
    os.close(0)
    arrays = dict(np.load(Path(request_dir) / "arrays.npz"))
    out = Path(out_dir)
    probe, answers = Probe(request, arrays, out), {}
    ns = {"__name__": "__main__"}
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        os.dup2(devnull.fileno(), 2)  # TensorFlow's C++ logs
        warnings.simplefilter("ignore")
        run(request["setup"], ns)
        for cell in request["cells"]:
            run(cell["source"], ns, whole=cell["whole"])
        for answer in request["answers"]:
            answers[answer] = collect(probe, answer, ns)
            name = Path(request.get("answers_file", "answers.json")).name
            tmp = out / f".{name}"
            tmp.write_text(json.dumps(answers, default=repr))
            os.replace(tmp, out / name)


if __name__ == "__main__":
    main(*sys.argv[1:3])
    os._exit(0)  # no atexit hook or lingering thread of the student's gets to write after the answers

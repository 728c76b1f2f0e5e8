"""Grader side: judge every graded test cell from evidence gathered outside the kernel.

``judge(grade_id, evidence)`` returns None when the cell passes, else the message the
student sees. Evidence is plain data: the answers ``harvest`` handed over (untrusted, so
type-checked here), the models' configs read as JSON (``modelfile``) and what ``evaluate``
measured in the sandbox. Nothing here runs student code, so nothing the student's kernel
did can change a verdict except its answers themselves.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from . import architecture, compilation, thresholds
from cnnkit.checks import loss_problem

ACCURACY_KEYS = ("accuracy", "sparse_categorical_accuracy", "acc")
DROPOUT_RATE = 0.2


class Fail(Exception):
    """A failed verdict; the message says what to fix."""


@dataclass
class Evidence:
    budget: object
    answers: dict = field(default_factory=dict)    # grade_id -> {"values": {...}} | {"error": str}
    configs: dict = field(default_factory=dict)    # model name -> accepted config.json
    rejected: dict = field(default_factory=dict)   # model name -> why it was refused
    measured: dict = field(default_factory=dict)   # model name -> evaluate's figures
    heldout_labels: object = None
    fault: str = None


def _values(ev, grade):
    record = ev.answers.get(grade)
    if record is None:
        raise Fail(f"Not run: {ev.fault}." if ev.fault else
                   "the grader received no answers from this cell: run the notebook top to bottom "
                   "without errors before submitting.")
    if not isinstance(record, dict) or not isinstance(record.get("values"), dict):
        raise Fail(f"the code this test needs raised {record.get('error', 'an error')!s:.300}; fix "
                   "that first." if isinstance(record, dict) else "the answers could not be read.")
    return record["values"]


def _model(ev, name, what):
    if name in ev.rejected:
        raise Fail(f"{what}: {ev.rejected[name]}")
    measured = ev.measured.get(name)
    if name not in ev.configs or measured is None:
        raise Fail(f"{what} could not be saved for grading.")
    if "error" in measured:
        raise Fail(f"{what} does not load with keras.saving.load_model(safe_mode=True): {measured['error']}")
    return ev.configs[name], measured


def _layers(config):
    try:
        return architecture.layers_of(config)
    except (NotImplementedError, KeyError, TypeError, ValueError):
        raise Fail("build the model with keras.Sequential or the functional API "
                   "(keras.Model(inputs, outputs)).") from None


def _saved(values, key, what):
    if values.get(key) != "saved":
        raise Fail(f"{what} should be a keras.Model; it is {values.get(key)!s:.100}.")


def _number_list(values, key):
    items = values.get(key)
    if not isinstance(items, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in items):
        return None
    return [float(v) for v in items]


# ---------------------------------------------------------------- Part A
def build_form(ev):
    _saved(_values(ev, "test_build_form"), "base", "build_model()'s result")
    _, measured = _model(ev, "base", "build_model()'s model")
    if measured["input_shape"] != [None, 32, 32, 3]:
        raise Fail(f"the input should be 32x32 RGB images, shape (None, 32, 32, 3), not {measured['input_shape']}.")
    if measured["output_shape"] != [None, 10]:
        raise Fail(f"the output should be one score per class, shape (None, 10), not {measured['output_shape']}.")


def build_structure(ev):
    _saved(_values(ev, "test_build_structure"), "base", "build_model()'s result")
    config, measured = _model(ev, "base", "build_model()'s model")
    problems = architecture.structure_problems(_layers(config))
    if problems:
        raise Fail("build_model() does not build the lesson's network: " + "; ".join(problems)
                   + ". Follow the table in Part A.")
    if measured["params"] != architecture.PARAM_COUNT:
        raise Fail(f"build_model() has {measured['params']:,} parameters; the lesson's network has "
                   f"{architecture.PARAM_COUNT:,}. Check the input shape (32, 32, 3), the filters, the "
                   "kernel sizes and padding='valid'.")


# ---------------------------------------------------------------- Part B
def regression(ev):
    result = _number_list(_values(ev, "test_regression_losses"), "result")
    if result is None or len(result) != 2:
        raise Fail("regression_losses should return two numbers, (mse, mae).")
    mse, mae = result
    if math.isclose(mse, 1.0) and math.isclose(mae, 2.5):
        raise Fail("regression_losses returns (mae, mse): return the mean squared error first.")
    if not math.isclose(mse, 2.5, rel_tol=1e-5):
        raise Fail(f"the mean squared error of errors 1, 0, 0, 3 is 2.5, not {mse:g}: average the "
                   "squared differences (keras.losses.MeanSquaredError()).")
    if not math.isclose(mae, 1.0, rel_tol=1e-5):
        raise Fail(f"the mean absolute error of errors 1, 0, 0, 3 is 1.0, not {mae:g}: average the "
                   "absolute differences (keras.losses.MeanAbsoluteError()).")


# ---------------------------------------------------------------- Part C
def _compiled(ev, grade):
    _saved(_values(ev, grade), "compiled", "compile_model(build_model())")
    config, _ = _model(ev, "compiled", "the compiled model")
    compile_config = config.get("compile_config")
    if not isinstance(compile_config, dict) or not compile_config.get("optimizer") or not compile_config.get("loss"):
        raise Fail("compile_model(model) must call model.compile(...) with an optimizer and a loss.")
    return config, compile_config


def compile_form(ev):
    _compiled(ev, "test_compile_form")


def compile_loss(ev):
    config, compile_config = _compiled(ev, "test_compile_loss")
    problem = loss_problem(_layers(config), compile_config)
    if problem:
        raise Fail(f"compile_model: {problem}.")


def compile_optimizer(ev):
    name = compilation.optimizer_of(_compiled(ev, "test_compile_optimizer")[1])
    if name != "Adam":
        raise Fail(f"compile_model uses the {name} optimizer; this part asks for Adam "
                   "(optimizer='adam' or keras.optimizers.Adam()).")


def compile_metrics(ev):
    if not compilation.has_accuracy(_compiled(ev, "test_compile_metrics")[1]):
        raise Fail("compile_model: pass metrics=['accuracy'] so that fit reports how often the "
                   "predicted class is right.")


# ---------------------------------------------------------------- Part D
def updates(ev):
    value = _values(ev, "test_updates_per_epoch").get("value")
    expected = math.ceil(ev.budget.n_train / ev.budget.batch_size)
    if type(value) is not int or value != expected:
        raise Fail(f"UPDATES_PER_EPOCH is {value!r}. Each batch of BATCH_SIZE images gives one update, "
                   "and a last, smaller batch still counts: compute it from N_TRAIN and BATCH_SIZE "
                   "(the grader runs with other values, so a typed number will not do).")


# ---------------------------------------------------------------- Part E
def _curves(values):
    if values.get("is_history") is not True:
        raise Fail(f"history should be what model.fit(...) returns, a keras History; it is a "
                   f"{values.get('is_history')!s:.60}.")
    curves = values.get("curves")
    if not isinstance(curves, dict) or not all(_number_list(curves, k) is not None for k in curves):
        raise Fail("history.history should map each curve's name to one number per epoch.")
    return {k: [float(v) for v in vs] for k, vs in curves.items()}


def train_form(ev):
    if "val_loss" not in _curves(_values(ev, "test_train_form")):
        raise Fail("history has no val_loss: pass validation_data=(val_images, val_labels) to fit.")


def train_history(ev):
    values = _values(ev, "test_train_history")
    curves = _curves(values)
    if values.get("belongs") is not True:
        raise Fail("history is not the History that model.fit(...) returned when it trained `model`: "
                   "return fit's result itself, not a History built by hand or another model's.")
    config, measured = _model(ev, "trained_base", "model")
    missing = [key for key in ("loss", "val_loss") if key not in curves]
    if compilation.has_accuracy(config.get("compile_config") or {}):
        if not any(k in curves for k in ACCURACY_KEYS):
            missing.append("accuracy")
        if not any("val_" + k in curves for k in ACCURACY_KEYS):
            missing.append("val_accuracy")
    if missing:
        raise Fail(f"history.history lacks {', '.join(missing)}: compile with metrics=['accuracy'] and "
                   "pass validation_data=(val_images, val_labels) to fit.")
    epochs = ev.budget.baseline_epochs
    if {len(v) for v in curves.values()} != {epochs}:
        raise Fail(f"history.history should hold {epochs} values per curve, one per epoch; it holds "
                   f"{ {k: len(v) for k, v in curves.items()} }. Train with epochs=BASELINE_EPOCHS.")
    if "val_loss" not in measured or not math.isclose(measured["val_loss"], curves["val_loss"][-1],
                                                      rel_tol=1e-3, abs_tol=1e-4):
        raise Fail("history's val_loss was not measured on the validation split: pass "
                   "validation_data=(val_images, val_labels) to fit (not validation_split, "
                   "and not the training images).")


# ---------------------------------------------------------------- Part F
def _frame(values):
    frame = values.get("frame")
    if not isinstance(frame, dict):
        raise Fail(f"history_frame should return a pandas DataFrame, not {frame!s:.60}.")
    return frame


def plot_form(ev):
    values = _values(ev, "test_plot_form")
    _frame(values)
    if any(lines is None for lines in (values.get("plots") or {None: None}).values()):
        raise Fail("plot_curves should return the matplotlib Axes it drew on (sns.lineplot returns it).")


def plot_content(ev):
    from .harvest import SYNTHETIC_HISTORY

    values = _values(ev, "test_plot_content")
    frame = _frame(values)
    if frame.get("index") != [1, 2, 3] or frame.get("index_name") != "epoch":
        raise Fail("history_frame: number the rows by epoch starting at 1 and name the index 'epoch' "
                   f"(got index {frame.get('index')} named {frame.get('index_name')!r}).")
    columns = frame.get("columns") or {}
    for key, expected in SYNTHETIC_HISTORY.items():
        got = _number_list(columns, key)
        if got is None or not np.allclose(got, expected):
            raise Fail(f"history_frame: column {key!r} should hold history.history[{key!r}].")
    for metric, lines in (values.get("plots") or {}).items():
        drawn = [line for line in (lines or []) if line]
        shown = sorted({name for name, column in SYNTHETIC_HISTORY.items() for y in drawn
                        if len(y) == len(column) and all(isinstance(v, float) for v in y)
                        and np.allclose(y, column)})
        wanted = sorted([metric, "val_" + metric])
        if shown != wanted or len(drawn) != 2:
            raise Fail(f"plot_curves(frame, {metric!r}) should draw exactly the columns {wanted}; "
                       f"it drew {len(drawn)} line(s) showing {shown or 'no column'}.")


# ---------------------------------------------------------------- Part G
def dropout_form(ev):
    _saved(_values(ev, "test_dropout_form"), "dropout", "model_dropout")
    config, _ = _model(ev, "dropout", "model_dropout")
    if not any(layer.kind == "Dropout" for layer in _layers(config)):
        raise Fail("model_dropout has no Dropout layer: build it with build_model(dropout_rate=...).")


def dropout_layer(ev):
    _saved(_values(ev, "test_dropout_layer"), "dropout", "model_dropout")
    layers = _layers(_model(ev, "dropout", "model_dropout")[0])
    base = _layers(_model(ev, "base", "build_model()'s model")[0])
    if any(layer.kind == "Dropout" for layer in base):
        raise Fail("build_model() without a rate should have no Dropout layer: add it only when "
                   "dropout_rate is given.")
    drops = [i for i, layer in enumerate(layers) if layer.kind == "Dropout"]
    if len(drops) != 1:
        raise Fail(f"model_dropout should have exactly one Dropout layer; it has {len(drops)}. Build it "
                   "with build_model(dropout_rate=...).")
    rate = layers[drops[0]].rate
    if not isinstance(rate, (int, float)) or not math.isclose(rate, DROPOUT_RATE):
        raise Fail(f"the Dropout layer drops {rate!s:.10} of its inputs; this part asks for 20%. "
                   "Keras's rate is the fraction dropped, not the fraction kept.")
    convs = [i for i, layer in enumerate(layers) if layer.kind == "Conv2D"]
    if not convs or not convs[-1] < drops[0] < len(layers) - 1:
        raise Fail("place the Dropout layer after the last Conv2D and before the output layer.")
    if architecture.without_dropout(layers) != base:
        raise Fail("apart from its Dropout layer, model_dropout should have the same layers as "
                   "build_model(): build both with build_model.")


def _layer_problems(layers):
    """Part A's and Part G's graded layer choices the dropout model gets wrong."""
    problems = architecture.structure_problems(layers)
    drops = [i for i, layer in enumerate(layers) if layer.kind == "Dropout"]
    convs = [i for i, layer in enumerate(layers) if layer.kind == "Conv2D"]
    if len(drops) != 1 or not isinstance(layers[drops[0]].rate, (int, float)) \
            or not math.isclose(layers[drops[0]].rate, DROPOUT_RATE) \
            or not (convs and convs[-1] < drops[0] < len(layers) - 1):
        problems.append(f"it should have one Dropout({DROPOUT_RATE}) between the last Conv2D and the output")
    return problems


def heldout(ev):
    _saved(_values(ev, "test_heldout_accuracy"), "dropout", "model_dropout")
    config, measured = _model(ev, "dropout", "model_dropout")
    if measured.get("steps", 0) < 1:
        raise Fail("model_dropout was never trained: call train(model_dropout, train_images, "
                   "train_labels, EPOCHS) before this cell.")
    compile_config = config.get("compile_config") or {}
    problems = [loss_problem(_layers(config), compile_config)]
    optimizer = compilation.optimizer_of(compile_config) if compile_config else "missing"
    problems.append(None if optimizer == "Adam" else f"the optimizer is {optimizer}, not Adam")
    problems = [p for p in problems if p] + _layer_problems(_layers(config))
    if problems:
        # The threshold is calibrated on the lesson's network and loss: charge a mistake once.
        return ("Held-out accuracy not scored: " + "; ".join(problems) + ". Another test already "
                "counts that mistake; fix it there and this test will measure accuracy.")
    predictions = np.asarray(measured.get("predictions", []))
    labels = np.asarray(ev.heldout_labels).reshape(-1)
    accuracy = float(np.mean(predictions == labels)) if predictions.shape == labels.shape else 0.0
    if not accuracy >= thresholds.heldout_threshold(ev.budget.name):
        raise Fail(f"model_dropout classifies {accuracy:.1%} of the held-out images correctly, less than "
                   "a correctly compiled and trained model reaches with this budget. Train "
                   "model_dropout with train(...) for EPOCHS epochs on all of train_images.")
    return f"model_dropout classifies {accuracy:.1%} of the held-out images correctly."


# ---------------------------------------------------------------- Part H
def _tuning(ev, grade):
    values = _values(ev, grade)
    rates, losses = _number_list(values, "rates"), _number_list(values, "val_losses")
    best = values.get("best_rate")
    if rates is None or losses is None or len(losses) != len(rates):
        raise Fail(f"val_losses should hold one validation loss per rate in DROPOUT_RATES "
                   f"({len(rates or [])}); it holds {len(values.get('val_losses') or [])}.")
    if not isinstance(best, float) or best not in rates:
        raise Fail(f"best_rate should be one of DROPOUT_RATES, not {best!r}.")
    return rates, losses, best


def tuning_form(ev):
    _tuning(ev, "test_tuning_form")


def tuning_best(ev):
    rates, losses, best = _tuning(ev, "test_tuning_best")
    if not all(math.isfinite(v) and v >= 0 for v in losses):
        raise Fail(f"val_losses should be finite, non-negative losses; got {losses}.")
    lowest = rates[int(np.argmin(losses))]
    if best != lowest:
        raise Fail(f"best_rate is {best!r}, but the lowest validation loss belongs to rate {lowest}: "
                   "pick the rate whose loss is smallest (np.argmin), not the largest.")


# ---------------------------------------------------------------- Part I
def _paths(ev, grade):
    values = _values(ev, grade)
    paths = {key: values.get(key) for key in ("BASELINE_PATH", "DROPOUT_PATH")}
    for key, path in paths.items():
        if not isinstance(path, str):
            raise Fail(f"{key} should be a file name, not {path!r}.")
        if "saved:" + path not in ev.measured and "saved:" + path not in ev.rejected:
            raise Fail(f"{path} does not exist next to the notebook: save the model with .save({path!r}).")
    best = values.get("best_model_path")
    if best not in paths.values():
        raise Fail(f"best_model_path should be BASELINE_PATH or DROPOUT_PATH, not {best!r}.")
    return values, paths, best


def save_form(ev):
    _paths(ev, "test_save_form")


def save_best(ev):
    values, paths, best = _paths(ev, "test_save_best")
    for key, path in paths.items():
        if not path.endswith(".keras"):
            raise Fail(f"{key} should name a file ending in .keras (Keras 3's format), not {path!r}.")
    losses = {}
    for path, live in ((paths["BASELINE_PATH"], "final_base"), (paths["DROPOUT_PATH"], "final_dropout")):
        _, saved = _model(ev, "saved:" + path, path)
        _, current = _model(ev, live, "the model saved to " + path)
        if saved["weights"] != current["weights"]:
            raise Fail(f"{path} does not hold the trained model's weights: save it after training.")
        if "val_loss" not in saved:
            raise Fail(f"{path} was saved without its compile settings: save the compiled model.")
        losses[path] = saved["val_loss"]
    lowest = min(losses, key=losses.get)
    if best != lowest:
        raise Fail(f"best_model_path is {best!r}, but {lowest!r} has the lower validation loss: "
                   "compare model.evaluate(val_images, val_labels) for both models.")


JUDGES = {
    "test_build_form": build_form, "test_build_structure": build_structure,
    "test_regression_losses": regression,
    "test_compile_form": compile_form, "test_compile_loss": compile_loss,
    "test_compile_optimizer": compile_optimizer, "test_compile_metrics": compile_metrics,
    "test_updates_per_epoch": updates,
    "test_train_form": train_form, "test_train_history": train_history,
    "test_plot_form": plot_form, "test_plot_content": plot_content,
    "test_dropout_form": dropout_form, "test_dropout_layer": dropout_layer, "test_heldout_accuracy": heldout,
    "test_tuning_form": tuning_form, "test_tuning_best": tuning_best,
    "test_save_form": save_form, "test_save_best": save_best,
}
# The models each verdict needs, so the evaluator loads only what the harvest produced.
PREDICT = ("dropout",)


def judge(grade_id, evidence):
    """``(passed, message)`` for one graded test cell."""
    try:
        note = JUDGES[grade_id](evidence)
    except Fail as fail:
        return False, str(fail)
    return True, note

"""The logic of the notebook's hidden tests.

nbgrader shows a hidden test cell's code in feedback, so the cells only call these
functions. Each raises ``AssertionError`` with a message that says what to fix, and runs
silenced: nbgrader scores any stderr in a test cell as a failure, and TensorFlow writes
to stderr freely.
"""

import contextlib
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np

from cnnkit_grader import architecture, compilation
from . import data
from .budget import current as current_budget


@contextlib.contextmanager
def silenced():
    """Swallow Python warnings and anything written to file descriptor 2 (TensorFlow's C++ logs)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings(), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _fail(message):
    raise AssertionError(message)


def _layers(model):
    try:
        return architecture.layers_of(architecture.model_config(model))
    except NotImplementedError:
        _fail("Build the model with keras.Sequential or the functional API (keras.Model(inputs, "
              "outputs)); a subclassed model cannot be inspected.")


# ---------------------------------------------------------------- Part A: the network
def check_architecture(model):
    """The lesson's layers in order, with 87,060 parameters."""
    with silenced():
        problems = architecture.structure_problems(_layers(model))
        params = model.count_params()
    if problems:
        _fail("build_model() does not build the lesson's network: " + "; ".join(problems)
              + ". Follow the table in Part A.")
    if params != architecture.PARAM_COUNT:
        _fail(f"build_model() has {params:,} parameters; the lesson's network has "
              f"{architecture.PARAM_COUNT:,}. Check the input shape (32, 32, 3), the filters, "
              "the kernel sizes and padding='valid'.")


# ---------------------------------------------------------------- Part B: regression losses
def check_regression_losses(regression_losses):
    """regression_losses returns (MSE, MAE) of its arguments."""
    y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 7.0]  # errors 1, 0, 0, 3
    with silenced():
        result = regression_losses(y_true, y_pred)
    try:
        mse, mae = (float(value) for value in result)
    except (TypeError, ValueError):
        _fail(f"regression_losses should return two numbers, (mse, mae); it returned {result!r}.")
    if math.isclose(mse, 1.0) and math.isclose(mae, 2.5):
        _fail("regression_losses returns (mae, mse): return the mean squared error first.")
    if not math.isclose(mse, 2.5, rel_tol=1e-5):
        _fail(f"the mean squared error of errors 1, 0, 0, 3 is 2.5, not {mse:g}: average the "
              "squared differences (keras.losses.MeanSquaredError()).")
    if not math.isclose(mae, 1.0, rel_tol=1e-5):
        _fail(f"the mean absolute error of errors 1, 0, 0, 3 is 1.0, not {mae:g}: average the "
              "absolute differences (keras.losses.MeanAbsoluteError()).")


# ---------------------------------------------------------------- Part C: compiling
def _compile_config(model):
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        _fail("compile_model(model) must call model.compile(...) with an optimizer and a loss.")
    return model.get_compile_config()


def loss_problem(layers, compile_config):
    """Why the loss is wrong for this network, or None when it is right."""
    name, from_logits = compilation.loss_of(compile_config)
    if name != "SparseCategoricalCrossentropy":
        hint = " (it expects one-hot labels)" if name == "CategoricalCrossentropy" else ""
        return (f"the loss is {name}{hint}; the labels are integers 0-9, so use "
                "sparse categorical cross-entropy")
    softmax = architecture.output_is_softmax(layers)
    if softmax and from_logits:
        return ("the output layer applies softmax, so it gives probabilities: use "
                "from_logits=False, or remove the softmax and keep from_logits=True")
    if not softmax and not from_logits:
        return ("the output layer has no activation, so it gives logits: use "
                "SparseCategoricalCrossentropy(from_logits=True), or add a softmax activation")
    return None


def check_loss(model):
    """Sparse categorical cross-entropy, with from_logits matching the output layer."""
    with silenced():
        problem = loss_problem(_layers(model), _compile_config(model))
    if problem:
        _fail(f"compile_model: {problem}.")


def check_optimizer(model):
    """Adam, as Part C asks."""
    with silenced():
        name = compilation.optimizer_of(_compile_config(model))
    if name != "Adam":
        _fail(f"compile_model uses the {name} optimizer; this part asks for Adam "
              "(optimizer='adam' or keras.optimizers.Adam()).")


def check_metrics(model):
    """The metrics include accuracy."""
    with silenced():
        ok = compilation.has_accuracy(_compile_config(model))
    if not ok:
        _fail("compile_model: pass metrics=['accuracy'] so that fit reports how often the "
              "predicted class is right.")


# ---------------------------------------------------------------- Part D: epochs and batches
def check_updates_per_epoch(value, n_train, batch_size):
    """One update per batch, the last batch possibly smaller."""
    expected = math.ceil(n_train / batch_size)
    if value != expected:
        _fail(f"UPDATES_PER_EPOCH is {value!r}. Each batch of BATCH_SIZE images gives one update, "
              "and a last, smaller batch still counts: compute it from N_TRAIN and BATCH_SIZE "
              "(the grader runs with other values, so a typed number will not do).")


# ---------------------------------------------------------------- Part E: training
_ACCURACY_KEYS = ("accuracy", "sparse_categorical_accuracy", "acc")


def _accuracy_key(keys, prefix=""):
    return next((prefix + k for k in _ACCURACY_KEYS if prefix + k in keys), None)


def check_history(history, model, val_images, val_labels, epochs):
    """The History that fit returned, with training and validation curves for every epoch."""
    import keras

    if not isinstance(history, keras.callbacks.History):
        _fail(f"history should be what model.fit(...) returns, a keras History; it is a "
              f"{type(history).__name__}.")
    # fit records its History on the model; a History filled in by hand, even one that was
    # given the model, is not that object.
    if getattr(model, "history", None) is not history:
        _fail("history is not the History that model.fit(...) returned when it trained `model`: "
              "return fit's result itself, not a History built by hand or another model's.")
    curves = history.history
    missing = [key for key in ("loss", "val_loss") if key not in curves]
    # Without accuracy among the metrics, Part C already lost that point: don't charge it twice.
    if compilation.has_accuracy(model.get_compile_config()):
        if _accuracy_key(curves) is None:
            missing.append("accuracy")
        if _accuracy_key(curves, "val_") is None:
            missing.append("val_accuracy")
    if missing:
        _fail(f"history.history lacks {', '.join(missing)}: compile with metrics=['accuracy'] and "
              "pass validation_data=(val_images, val_labels) to fit.")
    lengths = {key: len(values) for key, values in curves.items()}
    if set(lengths.values()) != {epochs}:
        _fail(f"history.history should hold {epochs} values per curve, one per epoch; it holds "
              f"{lengths}. Train with epochs=BASELINE_EPOCHS.")
    with silenced():
        val_loss = float(model.evaluate(val_images, val_labels, verbose=0, return_dict=True)["loss"])
    if not math.isclose(val_loss, curves["val_loss"][-1], rel_tol=1e-3, abs_tol=1e-4):
        _fail("history's val_loss was not measured on the validation split: pass "
              "validation_data=(val_images, val_labels) to fit (not validation_split, "
              "and not the training images).")


# ---------------------------------------------------------------- Part F: plotting
def _synthetic_history():
    import keras

    history = keras.callbacks.History()
    history.history = {"loss": [2.0, 1.5, 1.2], "accuracy": [0.3, 0.45, 0.55],
                       "val_loss": [1.8, 1.6, 1.7], "val_accuracy": [0.35, 0.42, 0.44]}
    history.epoch = [0, 1, 2]
    return history


def check_history_frame(history_frame):
    """history_frame gives one row per epoch, numbered from 1, one column per curve."""
    import pandas as pd

    history = _synthetic_history()
    frame = history_frame(history)
    if not isinstance(frame, pd.DataFrame):
        _fail(f"history_frame should return a pandas DataFrame, not {type(frame).__name__}.")
    if list(frame.index) != [1, 2, 3] or frame.index.name != "epoch":
        _fail("history_frame: number the rows by epoch starting at 1 and name the index 'epoch' "
              f"(got index {list(frame.index)} named {frame.index.name!r}).")
    for key, values in history.history.items():
        if key not in frame or not np.allclose(frame[key].to_numpy(), values):
            _fail(f"history_frame: column {key!r} should hold history.history[{key!r}].")


def check_plot(plot_curves, history_frame):
    """plot_curves draws the training and validation curve of one metric, and nothing else."""
    import matplotlib.pyplot as plt

    frame = history_frame(_synthetic_history())
    plt.close("all")
    try:
        for metric in ("accuracy", "loss"):
            fig = plt.figure()
            ax = plot_curves(frame, metric)
            if ax is None or not hasattr(ax, "get_lines"):
                _fail("plot_curves should return the matplotlib Axes it drew on "
                      "(seaborn's lineplot returns it).")
            # Match lines to columns by their data: seaborn's wide-form plots leave the data
            # lines unlabelled and put the names on empty legend proxies.
            drawn = [line.get_ydata() for line in ax.get_lines() if len(line.get_ydata())]
            shown = sorted({column for column in frame for y in drawn
                            if len(y) == len(frame) and np.allclose(y, frame[column].to_numpy())})
            wanted = sorted([metric, "val_" + metric])
            if shown != wanted or len(drawn) != len(wanted):
                _fail(f"plot_curves(frame, {metric!r}) should draw exactly the columns {wanted}; "
                      f"it drew {len(drawn)} line(s) showing {shown or 'no column'}.")
            plt.close(fig)
    finally:
        plt.close("all")


# ---------------------------------------------------------------- Part G: dropout
def check_dropout(model_dropout, base_model, rate):
    """One Dropout layer at the asked rate, between the last Conv2D and the output."""
    layers, base = _layers(model_dropout), _layers(base_model)
    if any(layer.kind == "Dropout" for layer in base):
        _fail("build_model() without a rate should have no Dropout layer: add it only when "
              "dropout_rate is given.")
    drops = [i for i, layer in enumerate(layers) if layer.kind == "Dropout"]
    if len(drops) != 1:
        _fail(f"model_dropout should have exactly one Dropout layer; it has {len(drops)}. Build it "
              "with build_model(dropout_rate=...).")
    position = drops[0]
    if not math.isclose(layers[position].rate, rate):
        _fail(f"the Dropout layer drops {layers[position].rate:.0%} of its inputs; this part asks "
              f"for {rate:.0%}. Keras's rate is the fraction dropped, not the fraction kept.")
    convs = [i for i, layer in enumerate(layers) if layer.kind == "Conv2D"]
    if not convs or not convs[-1] < position < len(layers) - 1:
        _fail("place the Dropout layer after the last Conv2D and before the output layer.")
    if architecture.without_dropout(layers) != base:
        _fail("apart from its Dropout layer, model_dropout should have the same layers as "
              "build_model(): build both with build_model.")


# ---------------------------------------------------------------- Part G: held-out accuracy
def heldout_accuracy(model):
    """Accuracy of the model's most likely class on the grader's held-out images."""
    with silenced():
        images, labels = data.load_heldout()
        scores = model.predict(images, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(scores, axis=-1) == labels.reshape(-1)))


def compile_problems(model):
    """Part C's graded compile choices that this model gets wrong, as sentences."""
    config = model.get_compile_config() if getattr(model, "optimizer", None) is not None else {}
    problems = [loss_problem(_layers(model), config)]
    optimizer = compilation.optimizer_of(config)
    problems.append(None if optimizer == "Adam" else f"the optimizer is {optimizer}, not Adam")
    return [problem for problem in problems if problem]


DROPOUT_RATE = 0.2  # what Part G asks for; its hidden test passes the same rate to check_dropout


def layer_problems(model):
    """Part A's and Part G's graded layer choices that this model gets wrong, as sentences."""
    layers = _layers(model)
    problems = architecture.structure_problems(layers)
    drops = [i for i, layer in enumerate(layers) if layer.kind == "Dropout"]
    convs = [i for i, layer in enumerate(layers) if layer.kind == "Conv2D"]
    if len(drops) != 1 or not math.isclose(layers[drops[0]].rate, DROPOUT_RATE) \
            or not (convs and convs[-1] < drops[0] < len(layers) - 1):
        problems.append(f"it should have one Dropout({DROPOUT_RATE}) between the last Conv2D "
                        "and the output")
    return problems


def trained_epochs(model):
    """How many epochs the last ``fit`` on this model ran (Keras keeps its History on the model)."""
    import keras

    history = getattr(model, "history", None)
    if not isinstance(history, keras.callbacks.History) or "loss" not in history.history:
        return 0
    return sum(1 for loss in history.history["loss"] if math.isfinite(loss))


def check_heldout_accuracy(model):
    """The trained dropout model classifies images it has never seen well enough.

    Errors are charged once: when Part C's loss or optimizer, or Part A's or G's layers, are
    wrong, that part already loses its points, so this test then asks only that the model
    was trained. (The threshold is calibrated on the lesson's network: another one reaches
    other accuracies, e.g. 0.46-0.50 with Dropout(0.8).)
    """
    if trained_epochs(model) < 1:
        _fail("model_dropout was never trained: call train(model_dropout, train_images, "
              "train_labels, EPOCHS) before this cell.")
    with silenced():
        problems = compile_problems(model) + layer_problems(model)
    if problems:
        print("Held-out accuracy not scored: " + "; ".join(problems) + ". Another test already "
              "counts that mistake; fix it there and this test will measure accuracy.")
        return
    accuracy = heldout_accuracy(model)
    if not accuracy >= __import__("cnnkit_grader.thresholds", fromlist=["x"]).heldout_threshold(current_budget().name):
        _fail(f"model_dropout classifies {accuracy:.1%} of the held-out images correctly, less "
              "than a correctly compiled and trained model reaches with this budget. Train "
              "model_dropout with train(...) for EPOCHS epochs on all of train_images.")


# ---------------------------------------------------------------- Part H: tuning
def check_tuning(rates, val_losses, best_rate):
    """One validation loss per rate, and the best rate is the one with the lowest loss."""
    losses = list(val_losses) if val_losses is not None else []
    if len(losses) != len(rates):
        _fail(f"val_losses should hold one validation loss per rate in DROPOUT_RATES "
              f"({len(rates)}); it holds {len(losses)}.")
    try:
        losses = [float(loss) for loss in losses]
    except (TypeError, ValueError):
        _fail("val_losses should hold numbers: the loss model.evaluate reports on the validation split.")
    if not all(math.isfinite(loss) and loss >= 0 for loss in losses):
        _fail(f"val_losses should be finite, non-negative losses; got {losses}.")
    best = rates[int(np.argmin(losses))]
    if best_rate != best:
        _fail(f"best_rate is {best_rate!r}, but the lowest validation loss belongs to rate {best}: "
              "pick the rate whose loss is smallest (np.argmin), not the largest.")


# ---------------------------------------------------------------- Part I: saving
def check_saved(path, model):
    """The model is saved in Keras's format and loads back, safely, with the same weights."""
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        _fail(f"save to a file ending in .keras (Keras 3's format), not {path.name!r}.")
    if not path.is_file():
        _fail(f"{path.name} does not exist: call .save({str(path)!r}) on the model.")
    try:
        with silenced():
            loaded = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - any failure to load is the student's to fix
        _fail(f"{path.name} does not load with keras.saving.load_model(safe_mode=True): "
              f"{type(err).__name__}: {err}")
    saved, live = loaded.get_weights(), model.get_weights()
    if len(saved) != len(live) or not all(np.array_equal(a, b) for a, b in zip(saved, live)):
        _fail(f"{path.name} does not hold the trained model's weights: save it after training.")


def check_best_model(best_model_path, candidates, val_images, val_labels):
    """best_model_path names the saved model with the lower validation loss."""
    with silenced():
        losses = {path: float(model.evaluate(val_images, val_labels, verbose=0, return_dict=True)["loss"])
                  for path, model in candidates.items()}
    best = min(losses, key=losses.get)
    if str(best_model_path) != str(best):
        _fail(f"best_model_path is {best_model_path!r}, but {best!r} has the lower validation "
              "loss: compare model.evaluate(val_images, val_labels) for both models.")

"""Evidence records for the rules' unit tests: the reference's, and one mistake at a time.

The model configs come from real Keras models built here (no training); the measured figures
are what ``inside/measure.py`` reports for such models. Each case says which graded cells it
must fail; ``grader_tests/goldens/rules.txt`` holds every verdict's message.
"""

import copy
import functools
import math

import numpy as np

from cnnkit.budget import BUDGETS
from cnnkit_grader.boundary import fresh
from cnnkit_grader.judge import architecture
from cnnkit_grader.judge.evidence import Evidence, Model
from cnnkit_grader.judge.tasks import TASKS

BUDGET = BUDGETS["grading"]   # the budget a course grades at: five rates in Part H, as students compare
THRESHOLD = 0.29
INPUTS = fresh.draw(1234)


def _model(dropout=None, output="linear", loss="sparse", optimizer="adam", metrics=True, filters=50):
    return copy.deepcopy(_config(dropout, output, loss, optimizer, metrics, filters))


@functools.lru_cache(maxsize=None)
def _config(dropout, output, loss, optimizer, metrics, filters):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(filters, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(50, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(50, 3, activation="relu")(x)
    if dropout is not None:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(50, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation=None if output == "linear" else output)(x))
    if loss is None:
        return {"class_name": "Functional", "config": model.get_config()}
    losses = {"sparse": keras.losses.SparseCategoricalCrossentropy(from_logits=output == "linear"),
              "mse": "mse", "logits_false": keras.losses.SparseCategoricalCrossentropy(from_logits=False)}
    model.compile(optimizer=optimizer, loss=losses[loss], metrics=["accuracy"] if metrics else [])
    return {"class_name": "Functional", "config": model.get_config(), "compile_config": model.get_compile_config()}


def _measured(params=87_060, steps=0, val_loss=None, weights="w", predictions=None, fresh=None):
    found = {"params": params, "input_shape": [None, 32, 32, 3], "output_shape": [None, 10],
             "weights": weights, "steps": steps}
    if val_loss is not None:
        found["val_loss"] = val_loss
    if fresh is not None:
        found["fresh_val_loss"] = fresh
    if predictions is not None:
        found["predictions"] = predictions
    return found


LABELS = np.arange(1000) % 10


def _predictions(accuracy):
    right = int(accuracy * len(LABELS))
    return [int(label) if i < right else int((label + 1) % 10) for i, label in enumerate(LABELS)]


def reference():
    """The evidence a correct submission gives under the smoke budget."""
    call = INPUTS["training"]
    n, epochs, batch = len(call["train_indices"]), call["epochs"], call["batch_size"]
    y_true, y_pred = (np.asarray(INPUTS["regression"][k]) for k in ("y_true", "y_pred"))
    updates = INPUTS["updates"]
    history = INPUTS["history"]
    curves = {"loss": [2.3 - 0.2 * e for e in range(epochs)], "accuracy": [0.1 + 0.05 * e for e in range(epochs)],
              "val_loss": [2.2 - 0.1 * e for e in range(epochs)], "val_accuracy": [0.12 + 0.04 * e for e in range(epochs)]}
    dropout_steps = BUDGET.epochs * math.ceil(BUDGET.n_train / BUDGET.batch_size)
    answers = {
        "build": {"values": {"base": "saved"}},
        "regression": {"values": {"result": [float(np.mean((y_true - y_pred) ** 2)),
                                             float(np.mean(np.abs(y_true - y_pred)))]}},
        "compiled": {"values": {"compiled": "saved"}},
        "updates": {"values": {"value": math.ceil(updates["n_train"] / updates["batch_size"])}},
        "train": {"values": {"history": {"type": "History", "curves": curves}, "trained": "saved"}},
        "plot": {"values": {"frame": {"index": list(range(1, len(history["loss"]) + 1)), "index_name": "epoch",
                                      "columns": dict(history)},
                            "plots": {m: [history[m], history["val_" + m]] for m in ("accuracy", "loss")}}},
        "dropout": {"values": {"dropout": "saved"}},
        "tuning": {"values": {"rates": list(BUDGET.dropout_rates), "val_losses": [2.0, 1.9, 1.8, 1.95, 2.1],
                              "best_rate": BUDGET.dropout_rates[2], "tuned": ["saved"] * 5}},
        "saving": {"values": {"BASELINE_PATH": "cifar_model.keras", "DROPOUT_PATH": "cifar_model_dropout.keras",
                              "best_model_path": "cifar_model_dropout.keras", "final_base": "saved",
                              "final_dropout": "saved"}},
    }
    compiled, dropout = _model(), _model(dropout=0.2)
    models = {
        "base": Model(_model(loss=None), measured=_measured()),
        "compiled": Model(compiled, measured=_measured(val_loss=2.31)),
        "trained": Model(compiled, measured=dict(_measured(steps=epochs * math.ceil(n / batch),
                                                           val_loss=curves["val_loss"][-1]),
                                                 train_loss=2.21, start_loss=2.30)),
        "dropout": Model(dropout, measured=_measured(steps=dropout_steps, val_loss=1.7, fresh=2.31,
                                                     predictions=_predictions(0.35))),
        "final_base": Model(compiled, measured=_measured(steps=7, val_loss=2.0, weights="base")),
        "final_dropout": Model(dropout, measured=_measured(steps=dropout_steps, val_loss=1.7, weights="drop")),
        "saved:cifar_model.keras": Model(compiled, measured=_measured(steps=7, val_loss=2.0, weights="base")),
        "saved:cifar_model_dropout.keras": Model(dropout, measured=_measured(steps=dropout_steps, val_loss=1.7,
                                                                              weights="drop")),
    }
    for i, (rate, loss) in enumerate(zip(BUDGET.dropout_rates, answers["tuning"]["values"]["val_losses"])):
        models[f"tuned_{i}"] = Model(_model(dropout=rate), measured=_measured(steps=7, val_loss=loss,
                                                                            weights=f"tuned{i}", fresh=2.31))
    return Evidence(budget=BUDGET, threshold=THRESHOLD, fresh=copy.deepcopy(INPUTS), answers=answers,
                    models=models, heldout_labels=LABELS)


def _set(ev, answer, key, value):
    ev.answers[answer]["values"][key] = value


def case(name):
    """(evidence, cells that must fail) for one named mistake."""
    ev = reference()
    fails = set()
    if name == "reference":
        pass
    elif name == "typed_regression":
        _set(ev, "regression", "result", [4.1875, 1.375])
        fails = {"test_regression_losses"}
    elif name == "swapped_regression":
        result = ev.answers["regression"]["values"]["result"]
        _set(ev, "regression", "result", result[::-1])
        fails = {"test_regression_losses"}
    elif name == "typed_updates":
        _set(ev, "updates", "value", 469)
        fails = {"test_updates_per_epoch"}
    elif name == "updates_floor":
        u = ev.fresh["updates"]
        _set(ev, "updates", "value", u["n_train"] // u["batch_size"])
        fails = {"test_updates_per_epoch"}
    elif name == "mse_loss":
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, loss="mse")
        ev.models["dropout"].measured["predictions"] = _predictions(0.1)
        fails = {"test_compile_loss"}
    elif name == "logits_mismatch":
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, loss="logits_false")
        ev.models["dropout"].measured["predictions"] = _predictions(0.1)
        fails = {"test_compile_loss"}
    elif name == "sgd":
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, optimizer="sgd")
        ev.models["dropout"].measured["predictions"] = _predictions(0.2)
        fails = {"test_compile_optimizer"}
    elif name == "no_accuracy":
        # Part E trains the lesson's network, compiled by the grader: its curves keep accuracy.
        ev.models["compiled"].config = _model(metrics=False)
        fails = {"test_compile_metrics"}
    elif name == "history_by_hand":
        curves = ev.answers["train"]["values"]["history"]["curves"]
        for key in curves:
            curves[key] = [curves[key][-1]] * len(curves[key])
        fails = {"test_train_history"}
    elif name == "history_wrong_epochs":
        curves = ev.answers["train"]["values"]["history"]["curves"]
        for key in curves:
            curves[key] = curves[key] + [curves[key][-1] - 0.01]
        fails = {"test_train_history"}
    elif name == "history_wrong_batch":
        ev.models["trained"].measured["steps"] += 3
        fails = {"test_train_history"}
    elif name == "validation_split":
        ev.models["trained"].measured["val_loss"] += 0.4
        fails = {"test_train_history"}
    elif name == "no_validation":
        curves = ev.answers["train"]["values"]["history"]["curves"]
        curves.pop("val_loss")
        curves.pop("val_accuracy")
        fails = {"test_train_form", "test_train_history"}
    elif name == "not_a_history":
        ev.answers["train"]["values"]["history"] = {"type": "dict"}
        fails = {"test_train_form", "test_train_history"}
    elif name == "unfitted_trained_model":
        # Code in train's own cell handed over the given network untrained, its step counter set
        # and a History typed around its real loss: only the grader's own losses tell.
        ev.models["trained"].measured.update(train_loss=2.30, start_loss=2.30)
        fails = {"test_train_form", "test_train_history"}
    elif name == "trained_on_an_unlucky_draw":
        # 97 images in batches of 32: the lesson's own train() ends higher than it began, and so
        # does this one; its weights moved, so it trained.
        ev.models["trained"].measured.update(train_loss=2.3674, start_loss=2.3075, lesson_train_loss=2.3674,
                                             start_weights="start")
        fails = set()
    elif name == "unfitted_on_an_unlucky_draw":
        # The same draw, and the given network handed back untrained: the start's weights.
        ev.models["trained"].measured.update(train_loss=2.3075, start_loss=2.3075, lesson_train_loss=2.3674,
                                             weights="start", start_weights="start")
        fails = {"test_train_form", "test_train_history"}
    elif name == "forged_trained_model":
        # Code in train's own cell swapped the model the grader gave for one of its own.
        ev.models["trained"].config = _model(filters=32)
        fails = {"test_train_history"}
    elif name == "plot_wrong_columns":
        plots = ev.answers["plot"]["values"]["plots"]
        plots["accuracy"] = plots["loss"]
        fails = {"test_plot_content"}
    elif name == "frame_from_zero":
        frame = ev.answers["plot"]["values"]["frame"]
        frame["index"] = [i - 1 for i in frame["index"]]
        fails = {"test_plot_content"}
    elif name == "no_dropout":
        ev.models["dropout"].config = _model()
        fails = {"test_dropout_form", "test_dropout_layer"}
    elif name == "dropout_0.8":
        ev.models["dropout"].config = _model(dropout=0.8)
        ev.models["dropout"].measured["predictions"] = _predictions(0.25)
        fails = {"test_dropout_layer"}
    elif name == "conv_32":
        for key in ("base", "compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, filters=32,
                                           loss=None if key == "base" else "sparse")
        ev.models["base"].measured["params"] = 86_380
        ev.models["dropout"].measured["predictions"] = _predictions(0.25)
        fails = {"test_build_structure"}
    elif name == "heldout_low":
        ev.models["dropout"].measured["predictions"] = _predictions(0.2)
        fails = {"test_heldout_accuracy"}
    elif name == "untrained":
        ev.models["dropout"].measured.update(steps=0, val_loss=2.305, predictions=_predictions(0.1))
        fails = {"test_heldout_accuracy"}
    elif name == "part_g_skip":
        ev.models["dropout"].config = _model(dropout=0.2, optimizer="sgd")
        ev.models["dropout"].measured.update(steps=1, predictions=_predictions(0.1))
        fails = {"test_heldout_accuracy"}
    elif name == "charged_but_undertrained":
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, loss="mse")
        ev.models["dropout"].measured.update(steps=3, val_loss=2.29, predictions=_predictions(0.1))
        fails = {"test_compile_loss", "test_heldout_accuracy"}
    elif name == "forged_steps":
        # Part C charged SGD; the step counter says "trained as asked", the loss says otherwise.
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, optimizer="sgd")
        ev.models["dropout"].measured.update(val_loss=2.302, fresh_val_loss=2.305, predictions=_predictions(0.1))
        fails = {"test_compile_optimizer", "test_heldout_accuracy"}
    elif name == "part_g_charges_another_network":
        # Part G charges Dropout(0.8); model_dropout is also another network (32 filters), not
        # build_model()'s, which no test charged: it is measured, however it learned.
        ev.models["dropout"].config = _model(dropout=0.8, filters=32)
        ev.models["dropout"].measured.update(val_loss=2.2, fresh_val_loss=2.31, predictions=_predictions(0.1))
        fails = {"test_dropout_layer", "test_heldout_accuracy"}
    elif name == "charged_and_learned_few_steps":
        # Part C charged SGD; the step counter says 1 update, but the grader's measurement says it
        # learned: the counter decides nothing, so the charged mistake is not charged again.
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, optimizer="sgd")
        ev.models["dropout"].measured.update(steps=1, val_loss=2.2, fresh_val_loss=2.31,
                                             predictions=_predictions(0.2))
        fails = {"test_compile_optimizer"}
    elif name == "charged_loss_compiled_otherwise":
        # Part C charged MSE, but model_dropout was compiled by hand with another wrong loss.
        ev.models["compiled"].config = _model(loss="mse")
        ev.models["dropout"].config = _model(dropout=0.2, loss="logits_false")
        ev.models["dropout"].measured["predictions"] = _predictions(0.1)
        fails = {"test_compile_loss", "test_heldout_accuracy"}
    elif name == "identical_candidates":
        # One set of weights for every candidate: every loss ties, and argmax picks as argmin does.
        for i in range(len(BUDGET.dropout_rates)):
            ev.models[f"tuned_{i}"].measured.update(weights="same", val_loss=2.0)
        _set(ev, "tuning", "val_losses", [2.0] * len(BUDGET.dropout_rates))
        _set(ev, "tuning", "best_rate", BUDGET.dropout_rates[0])
        fails = {"test_tuning_best"}
    elif name == "candidates_no_lower_than_fresh":
        # A few updates per candidate (500 images, one epoch, at the grading budget) can leave a
        # correctly trained candidate's loss above the fresh network's: distinct candidates, the
        # lowest loss picked, so Part H keeps its points (docs/validity.md).
        losses = [2.32, 2.315, 2.33, 2.318, 2.325]
        for i, loss in enumerate(losses):
            ev.models[f"tuned_{i}"].measured.update(val_loss=loss, steps=7)
        _set(ev, "tuning", "val_losses", losses)
        _set(ev, "tuning", "best_rate", BUDGET.dropout_rates[1])
        fails = set()
    elif name == "logits_mismatch_candidates_unlearned":
        # One compile mistake, charged once: Part C charges the loss; the candidates it kept from
        # learning are distinct and the best rate is picked honestly, so Part H keeps its points.
        for key in ("compiled", "dropout"):
            ev.models[key].config = _model(dropout=0.2 if key == "dropout" else None, loss="logits_false")
        ev.models["dropout"].measured["predictions"] = _predictions(0.1)
        losses = [2.32, 2.315, 2.33, 2.318, 2.325]
        for i, loss in enumerate(losses):
            ev.models[f"tuned_{i}"].measured.update(val_loss=loss, steps=7)
        _set(ev, "tuning", "val_losses", losses)
        _set(ev, "tuning", "best_rate", BUDGET.dropout_rates[1])
        fails = {"test_compile_loss"}
    elif name == "no_flatten_unloadable":
        # Part A charged a network Keras cannot load again: Part G's layer tests read its config alone.
        for key in ("base", "compiled", "dropout"):
            config = copy.deepcopy(ev.models[key].config)
            config["config"]["layers"] = [layer for layer in config["config"]["layers"]
                                          if layer["class_name"] != "Flatten"]
            ev.models[key].config = config
        ev.models["base"].measured["output_shape"] = [None, 4, 4, 10]
        ev.models["dropout"].measured = {"error": "TypeError: only 0-dimensional arrays can be converted"}
        fails = {"test_build_form", "test_build_structure", "test_heldout_accuracy"}
    elif name == "typed_val_losses":
        _set(ev, "tuning", "val_losses", [1.9, 1.7, 1.8, 2.0, 2.2])
        _set(ev, "tuning", "best_rate", BUDGET.dropout_rates[1])
        fails = {"test_tuning_best"}
    elif name == "argmax_rate":
        _set(ev, "tuning", "best_rate", BUDGET.dropout_rates[4])
        fails = {"test_tuning_best"}
    elif name == "student_rate":
        _set(ev, "tuning", "best_rate", 0.3)
        fails = {"test_tuning_form", "test_tuning_best"}
    elif name == "tuned_model_missing":
        del ev.models["tuned_3"]
        fails = {"test_tuning_form", "test_tuning_best"}
    elif name == "candidate_wrong_rate":
        ev.models["tuned_1"].config = _model(dropout=0.5)
        fails = {"test_tuning_best"}
    elif name == "stale_save":
        ev.models["saved:cifar_model.keras"].measured["weights"] = "old"
        fails = {"test_save_best"}
    elif name == "saved_as_h5":
        for key in ("BASELINE_PATH", "DROPOUT_PATH"):
            _set(ev, "saving", key, ev.answers["saving"]["values"][key].replace(".keras", ".h5"))
        _set(ev, "saving", "best_model_path", "cifar_model_dropout.h5")
        for old in ("cifar_model.keras", "cifar_model_dropout.keras"):
            ev.models["saved:" + old.replace(".keras", ".h5")] = Model(
                rejected=f"{old.replace('.keras', '.h5')} is not a readable Keras 3 .keras file (BadZipFile); "
                         "save it with model.save('name.keras').")
        fails = {"test_save_best"}
    elif name == "not_saved":
        del ev.models["saved:cifar_model.keras"]
        fails = {"test_save_form", "test_save_best"}
    elif name == "worse_model_named":
        _set(ev, "saving", "best_model_path", "cifar_model.keras")
        fails = {"test_save_best"}
    elif name == "lambda_layer":
        ev.models["saved:cifar_model_dropout.keras"] = Model(
            rejected="model contains a Lambda object, which can run arbitrary code; build the model from "
                     "built-in keras.layers only.")
        fails = {"test_save_best"}
    elif name == "kernel_died_in_part_h":
        ev.fault = "the kernel died in code cell 46 (os._exit, a crash, or running out of memory), so later cells could not run"
        ev.not_run = frozenset({"test_tuning_form", "test_tuning_best", "test_save_form", "test_save_best"})
        for answer in ("tuning", "saving"):
            ev.answers.pop(answer)
        fails = set(ev.not_run)
    elif name == "probe_raised":
        ev.answers["train"] = {"error": "ValueError: Arguments `target` and `output` must have the same shape."}
        fails = {"test_train_form", "test_train_history"}
    elif name == "empty_notebook":
        ev.answers = {answer: {"error": "NotImplementedError: "} for answer in ev.answers}
        ev.models = {}
        fails = set(TASKS)
    else:
        raise KeyError(name)
    return ev, fails


CASES = ("reference", "typed_regression", "swapped_regression", "typed_updates", "updates_floor", "mse_loss",
         "logits_mismatch", "sgd", "no_accuracy", "history_by_hand", "history_wrong_epochs",
         "history_wrong_batch", "validation_split", "unfitted_trained_model", "trained_on_an_unlucky_draw",
         "unfitted_on_an_unlucky_draw", "forged_trained_model", "no_validation", "not_a_history", "plot_wrong_columns",
         "frame_from_zero", "no_dropout", "dropout_0.8", "conv_32", "heldout_low", "untrained", "part_g_skip",
         "charged_but_undertrained", "forged_steps", "part_g_charges_another_network",
         "charged_and_learned_few_steps", "charged_loss_compiled_otherwise", "identical_candidates",
         "candidates_no_lower_than_fresh", "logits_mismatch_candidates_unlearned", "no_flatten_unloadable", "typed_val_losses", "argmax_rate", "student_rate", "tuned_model_missing",
         "candidate_wrong_rate", "stale_save", "saved_as_h5", "not_saved", "worse_model_named", "lambda_layer",
         "kernel_died_in_part_h", "probe_raised", "empty_notebook")


def layers(config):
    return architecture.layers_of(config)

"""Every rule of the assignment, once: each judges an evidence record and says what to fix.

A rule takes an :class:`~cnnkit_grader.judge.evidence.Evidence` and returns when the answer is
right (optionally with a note for the student, or ``(note, measured)``), or raises
:class:`~cnnkit_grader.judge.evidence.Fail` with a stable failure id and a message that says what to
fix. Rules run no student code and read no file: autograde, ``nbgrader validate`` on the
source (``selfcheck``) and calibration all call these same functions. ``tasks.TASKS`` says
which rule judges which graded cell.
"""

import math

import numpy as np

import cnnkit_grader.inside.names as names
from cnnkit_grader.judge import architecture, compilation
from cnnkit_grader.judge.evidence import Fail, numbers, saved

ACCURACY_KEYS = ("accuracy", "sparse_categorical_accuracy", "acc")
DROPOUT_RATE = 0.2          # what Part G asks for
CLOSE = dict(rel_tol=1e-3, abs_tol=1e-4)   # a loss measured twice on the same data and weights
# Evidence that a model learned: its validation loss at most this share of a fresh
# initialisation's. SGD, the slowest optimizer a student might charge against Part C, reaches
# 0.97 under the smoke budget (4,000 images x 2 epochs); an untrained model 0.99-1.01.
LEARNED = 0.985
# Evidence that Part E's ``train`` trained: its model's loss on the images it was given at most
# this share of the same network's before training. Over 25 fresh draws (6 to 30 updates), the
# lesson's train() reached 0.93-0.987; a model handed back untrained gives exactly 1.
FITTED = 0.995


def _layers(config):
    try:
        return architecture.layers_of(config)
    except (NotImplementedError, KeyError, TypeError, ValueError, AttributeError):
        raise Fail("any.not_inspectable", "build the model with keras.Sequential or the functional API "
                                          "(keras.Model(inputs, outputs)).") from None


def _updates_per_epoch(n_images, batch_size):
    return math.ceil(n_images / batch_size)


# ---------------------------------------------------------------- Part A: the network
def build_form(ev):
    saved(ev.values("build"), "base", "build_model()'s result")
    _, measured = ev.model("base", "build_model()'s model")
    if measured.get("input_shape") != [None, 32, 32, 3]:
        raise Fail("input_shape", "the input should be 32x32 RGB images, shape (None, 32, 32, 3), not "
                                  f"{measured.get('input_shape')}.")
    if measured.get("output_shape") != [None, 10]:
        raise Fail("output_shape", "the output should be one score per class, shape (None, 10), not "
                                   f"{measured.get('output_shape')}.")


def build_structure(ev):
    saved(ev.values("build"), "base", "build_model()'s result")
    config, measured = ev.model("base", "build_model()'s model")
    problems = architecture.structure_problems(_layers(config))
    if problems:
        raise Fail("layers", "build_model() does not build the lesson's network: " + "; ".join(problems)
                   + ". Follow the table in Part A.")
    if measured.get("params") != architecture.PARAM_COUNT:
        raise Fail("params", f"build_model() has {measured.get('params'):,} parameters; the lesson's network "
                             f"has {architecture.PARAM_COUNT:,}. Check the input shape (32, 32, 3), the filters, "
                             "the kernel sizes and padding='valid'.")


# ---------------------------------------------------------------- Part B: regression losses
def regression(ev):
    result = numbers(ev.values("regression"), "result")
    if result is None or len(result) != 2:
        raise Fail("shape", "regression_losses should return two numbers, (mse, mae).")
    y_true = np.asarray(ev.fresh["regression"]["y_true"])
    y_pred = np.asarray(ev.fresh["regression"]["y_pred"])
    mse, mae = float(np.mean((y_true - y_pred) ** 2)), float(np.mean(np.abs(y_true - y_pred)))
    got_mse, got_mae = result
    if math.isclose(got_mse, mae, rel_tol=1e-4) and math.isclose(got_mae, mse, rel_tol=1e-4):
        raise Fail("order", "regression_losses returns (mae, mse): return the mean squared error first.")
    if not math.isclose(got_mse, mse, rel_tol=1e-4):
        raise Fail("mse", f"called with the grader's own numbers, regression_losses gave an MSE of {got_mse:g}, "
                          f"not {mse:g}: average the squared differences (keras.losses.MeanSquaredError()), "
                          "computed from the arguments, not typed.")
    if not math.isclose(got_mae, mae, rel_tol=1e-4):
        raise Fail("mae", f"called with the grader's own numbers, regression_losses gave an MAE of {got_mae:g}, "
                          f"not {mae:g}: average the absolute differences (keras.losses.MeanAbsoluteError()), "
                          "computed from the arguments, not typed.")


# ---------------------------------------------------------------- Part C: compiling
def _compiled(ev):
    saved(ev.values("compiled"), "compiled", "compile_model(build_model())")
    config, _ = ev.model("compiled", "the compiled model")
    compile_config = config.get("compile_config")
    if not isinstance(compile_config, dict) or not compile_config.get("optimizer") or not compile_config.get("loss"):
        raise Fail("not_compiled", "compile_model(model) must call model.compile(...) with an optimizer and a loss.")
    return config, compile_config


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


def optimizer_problem(compile_config):
    name = compilation.optimizer_of(compile_config) if compile_config else None
    return None if name == "Adam" else f"the optimizer is {name or 'missing'}, not Adam"


def compile_form(ev):
    _compiled(ev)


def compile_loss(ev):
    config, compile_config = _compiled(ev)
    problem = loss_problem(_layers(config), compile_config)
    if problem:
        raise Fail("loss", f"compile_model: {problem}.")


def compile_optimizer(ev):
    name = compilation.optimizer_of(_compiled(ev)[1])
    if name != "Adam":
        raise Fail("optimizer", f"compile_model uses the {name} optimizer; this part asks for Adam "
                                "(optimizer='adam' or keras.optimizers.Adam()).")


def compile_metrics(ev):
    if not compilation.has_accuracy(_compiled(ev)[1]):
        raise Fail("metrics", "compile_model: pass metrics=['accuracy'] so that fit reports how often the "
                              "predicted class is right.")


# ---------------------------------------------------------------- Part D: epochs and batches
def updates(ev):
    value = ev.values("updates").get("value")
    n_train, batch_size = ev.fresh["updates"]["n_train"], ev.fresh["updates"]["batch_size"]
    expected = _updates_per_epoch(n_train, batch_size)
    if type(value) is not int or value != expected:
        raise Fail("value", f"with N_TRAIN = {n_train:,} and BATCH_SIZE = {batch_size}, your cell set "
                            f"UPDATES_PER_EPOCH to {value!r}, not {expected}. Each batch of BATCH_SIZE images "
                            "gives one update, and a last, smaller batch still counts: compute it from N_TRAIN "
                            "and BATCH_SIZE (the grader runs the cell with other values, so a typed number "
                            "will not do).")


# ---------------------------------------------------------------- Part E: training
def _curves(values):
    history = values.get("history")
    if not isinstance(history, dict) or history.get("type") != "History":
        kind = history.get("type") if isinstance(history, dict) else history
        raise Fail("not_history", f"train(...) should return what model.fit(...) returns, a keras History; "
                                  f"it returned a {str(kind)[:60]}.")
    curves = history.get("curves")
    if not isinstance(curves, dict) or not all(numbers(curves, k) is not None for k in curves):
        raise Fail("not_history", "history.history should map each curve's name to one number per epoch.")
    return {k: [float(v) for v in vs] for k, vs in curves.items()}


def train_form(ev):
    if "val_loss" not in _curves(ev.values("train")):
        raise Fail("no_validation", "history has no val_loss: pass validation_data=(val_images, val_labels) to fit.")
    # The History comes from the probe's process, which train's own cell shares: it counts only
    # once the grader has measured that train trained the model it was given (``fitted``).
    _, measured = ev.model("trained", "the model train() trained")
    if not fitted(measured):
        raise Fail("not_fitted", "train(model, images, labels, epochs) did not train the model it was given, so "
                                 "its History shows no validation of that training: train should return what "
                                 "model.fit(images, labels, ..., validation_data=(val_images, val_labels)) returns.")


def train_history(ev):
    curves = _curves(ev.values("train"))
    config, measured = ev.model("trained", "the model train() trained")
    compile_config = config.get("compile_config") or {}
    if (architecture.structure_problems(_layers(config)) or optimizer_problem(compile_config)
            or loss_problem(_layers(config), compile_config)):
        raise Fail("not_given_model", "train(model, ...) should fit the model it is given (the grader gives it "
                                      "the lesson's network, compiled as Part C asks) and leave it that model.")
    call = ev.fresh["training"]
    n, epochs, batch = len(call["train_indices"]), call["epochs"], call["batch_size"]
    missing = [key for key in ("loss", "val_loss") if key not in curves]
    if compilation.has_accuracy(config.get("compile_config") or {}):
        if not any(k in curves for k in ACCURACY_KEYS):
            missing.append("accuracy")
        if not any("val_" + k in curves for k in ACCURACY_KEYS):
            missing.append("val_accuracy")
    if missing:
        raise Fail("missing_curves", f"history.history lacks {', '.join(missing)}: compile with "
                                     "metrics=['accuracy'] and pass validation_data=(val_images, val_labels) to fit.")
    lengths = {k: len(v) for k, v in curves.items()}
    if set(lengths.values()) != {epochs}:
        raise Fail("epochs", f"called as train(model, images, labels, {epochs}), train returned a History with "
                             f"{lengths} values per curve, not {epochs}: pass epochs=epochs to fit.")
    steps = _updates_per_epoch(n, batch) * epochs
    if measured.get("steps") != steps:
        raise Fail("steps", f"called on {n} images for {epochs} epochs with BATCH_SIZE = {batch}, train should "
                            f"make {steps} weight updates (one per batch, each epoch); the model made "
                            f"{measured.get('steps')}. Pass epochs=epochs and batch_size=BATCH_SIZE to fit.")
    if not fitted(measured):
        loss, before = measured.get("train_loss"), measured.get("start_loss")
        figures = (f" (its loss on them is {loss:.4f}; before training it was {before:.4f})"
                   if isinstance(loss, float) and isinstance(before, float) else "")
        raise Fail("not_fitted", f"after train(model, images, labels, epochs), the model has not learned from those "
                                 f"images{figures}. train should fit the model it is given "
                                 "(model.fit(images, labels, ...)) and return the History that fit returns.")
    if epochs > 1 and len(set(curves["loss"])) == 1:
        raise Fail("by_hand", "history.history['loss'] holds the same number in every epoch, which training "
                              "never records: return the History that model.fit(...) returned, not one built "
                              "by hand.")
    if "val_loss" not in measured or not math.isclose(measured["val_loss"], curves["val_loss"][-1], **CLOSE):
        raise Fail("validation_data", "history's val_loss was not measured on the validation split: pass "
                                      "validation_data=(val_images, val_labels) to fit (not validation_split, "
                                      "and not the training images).")


# ---------------------------------------------------------------- Part F: plotting
def _frame(values):
    frame = values.get("frame")
    if not isinstance(frame, dict):
        raise Fail("not_frame", f"history_frame should return a pandas DataFrame, not a {str(frame)[:60]}.")
    return frame


def plot_form(ev):
    values = ev.values("plot")
    _frame(values)
    plots = values.get("plots")
    if not isinstance(plots, dict) or not plots or any(lines is None for lines in plots.values()):
        raise Fail("not_axes", "plot_curves should return the matplotlib Axes it drew on (sns.lineplot returns it).")


def plot_content(ev):
    values = ev.values("plot")
    frame = _frame(values)
    history = ev.fresh["history"]
    epochs = len(history["loss"])
    if frame.get("index") != list(range(1, epochs + 1)) or frame.get("index_name") != "epoch":
        raise Fail("index", "history_frame: number the rows by epoch starting at 1 and name the index 'epoch' "
                            f"(got index {str(frame.get('index'))[:80]} named {frame.get('index_name')!r}).")
    columns = frame.get("columns") if isinstance(frame.get("columns"), dict) else {}
    for key, expected in history.items():
        got = numbers(columns, key)
        if got is None or len(got) != len(expected) or not np.allclose(got, expected):
            raise Fail("columns", f"history_frame: column {key!r} should hold history.history[{key!r}].")
    plots = values.get("plots") if isinstance(values.get("plots"), dict) else {}
    for metric in ("accuracy", "loss"):
        lines = plots.get(metric)
        drawn = [line for line in (lines if isinstance(lines, list) else []) if isinstance(line, list) and line]
        shown = sorted({name for name, column in history.items() for y in drawn
                        if len(y) == len(column) and numbers({"y": y}, "y") is not None
                        and np.allclose(y, column)})
        wanted = sorted([metric, "val_" + metric])
        if shown != wanted or len(drawn) != 2:
            raise Fail("lines", f"plot_curves(frame, {metric!r}) should draw exactly the columns {wanted}; "
                                f"it drew {len(drawn)} line(s) showing {shown or 'no column'}.")


# ---------------------------------------------------------------- Part G: dropout
def _dropout_problems(layers):
    """Why the Dropout layers differ from Part G's, as sentences."""
    drops = [i for i, layer in enumerate(layers) if layer.kind == "Dropout"]
    if len(drops) != 1:
        return [f"model_dropout should have exactly one Dropout layer; it has {len(drops)}. Build it "
                "with build_model(dropout_rate=...)"]
    rate = layers[drops[0]].rate
    if not isinstance(rate, (int, float)) or not math.isclose(rate, DROPOUT_RATE):
        return [f"the Dropout layer drops {str(rate)[:10]} of its inputs; this part asks for 20%. "
                "Keras's rate is the fraction dropped, not the fraction kept"]
    convs = [i for i, layer in enumerate(layers) if layer.kind == "Conv2D"]
    if not convs or not convs[-1] < drops[0] < len(layers) - 1:
        return ["place the Dropout layer after the last Conv2D and before the output layer"]
    return []


def dropout_form(ev):
    saved(ev.values("dropout"), "dropout", "model_dropout")
    config = ev.config("dropout", "model_dropout")
    if not any(layer.kind == "Dropout" for layer in _layers(config)):
        raise Fail("no_dropout", "model_dropout has no Dropout layer: build it with build_model(dropout_rate=...).")


def dropout_layer(ev):
    saved(ev.values("dropout"), "dropout", "model_dropout")
    layers = _layers(ev.config("dropout", "model_dropout"))
    base = _layers(ev.config("base", "build_model()'s model"))
    if any(layer.kind == "Dropout" for layer in base):
        raise Fail("dropout_in_base", "build_model() without a rate should have no Dropout layer: add it only "
                                      "when dropout_rate is given.")
    problems = _dropout_problems(layers)
    if problems:
        raise Fail("dropout", problems[0] + ".")
    if architecture.without_dropout(layers) != base:
        raise Fail("other_layers", "apart from its Dropout layer, model_dropout should have the same layers as "
                                   "build_model(): build both with build_model.")


def _fails(rule, ev):
    try:
        rule(ev)
    except Fail:
        return True
    return False


def _settings(value):
    """Compile settings without the names Keras numbers per object (adam, adam_1, ...): what was chosen."""
    if isinstance(value, dict):
        return {k: _settings(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_settings(v) for v in value]
    return value


def _charged(ev, config):
    """model_dropout's graded mistakes when every one is exactly a mistake an earlier test charged,
    else None (measure it).

    Exactly: its layers, Dropout aside, are build_model()'s, and a structure mistake counts only
    when Part A charged it; its compile settings are compile_model(build_model())'s, and a loss or
    optimizer mistake counts only when Part C charged it; a Dropout mistake counts when Part G
    charged it. Part G's failing does not make any other network's mistakes "charged".
    """
    layers = _layers(config)
    base, compiled = ev.models.get("base"), ev.models.get("compiled")
    problems = [(p, "dropout") for p in _dropout_problems(layers)]
    structure = architecture.structure_problems(layers)
    compile_config = config.get("compile_config") or {}
    compile_problems = [p for p in (loss_problem(layers, compile_config), optimizer_problem(compile_config)) if p]
    if structure:
        if base is None or base.config is None or not _fails(build_structure, ev):
            return None
        if architecture.without_dropout(_layers(base.config)) != architecture.without_dropout(layers):
            return None
        problems += [(p, "structure") for p in structure]
    if compile_problems:
        if compiled is None or compiled.config is None or not isinstance(compiled.config.get("compile_config"), dict):
            return None
        if (_settings(compiled.config["compile_config"]) != _settings(compile_config)
                or architecture.output_is_softmax(_layers(compiled.config)) != architecture.output_is_softmax(layers)):
            return None
        charged = {"loss": _fails(compile_loss, ev), "optimizer": _fails(compile_optimizer, ev)}
        loss, optimizer = loss_problem(layers, compile_config), optimizer_problem(compile_config)
        if (loss and not charged["loss"]) or (optimizer and not charged["optimizer"]):
            return None
        problems += [(p, "compile") for p in compile_problems]
    if any(kind == "dropout" for _, kind in problems) and not (_fails(dropout_form, ev) or _fails(dropout_layer, ev)):
        return None
    return [p for p, _ in problems] or None


def fitted(measured):
    """Whether the model Part E's ``train`` leaves fits the images it was given better than the
    network the probe gave it did before training: losses the grader measures itself, outside the
    notebook's process (``inside/measure.py``), so no step counter or History the notebook can
    set takes part."""
    loss, before = measured.get("train_loss"), measured.get("start_loss")
    if not (isinstance(loss, float) and isinstance(before, float) and math.isfinite(loss) and math.isfinite(before)):
        return False
    if loss <= FITTED * before:
        return True
    # On a few images fit can end no lower than it began (97 images in batches of 32: a last
    # batch of one). Where the lesson's own train() does not lower it either, the loss cannot
    # tell; the weights can: a model handed back untrained has the start's.
    lesson_after = measured.get("lesson_train_loss")
    return (isinstance(lesson_after, float) and lesson_after > FITTED * before
            and measured.get("weights") != measured.get("start_weights"))


def learned(measured):
    """Whether a model's validation loss, measured by the grader, is at most LEARNED of what the
    lesson's network freshly initialised with the grader's seeds gives (``inside/lesson.py``).
    No figure the notebook can set (a step counter, an initialiser) takes part."""
    loss, untrained = measured.get("val_loss"), measured.get("fresh_val_loss")
    return (isinstance(loss, float) and isinstance(untrained, float) and math.isfinite(loss)
            and math.isfinite(untrained) and loss <= LEARNED * untrained)


def accuracy(predictions, labels):
    """Share of predicted classes equal to the labels; 0 when the shapes do not match."""
    predictions, labels = np.asarray(predictions), np.asarray(labels).reshape(-1)
    return float(np.mean(predictions == labels)) if predictions.shape == labels.shape else 0.0


def heldout(ev):
    saved(ev.values("dropout"), "dropout", "model_dropout")
    config, measured = ev.model("dropout", "model_dropout")
    steps = measured.get("steps")   # the notebook can set this: it words a message, never decides
    asked = ev.budget.epochs * _updates_per_epoch(ev.budget.n_train, ev.budget.batch_size)
    trained = learned(measured)
    problems = _charged(ev, config)
    if problems and trained:
        # The threshold is calibrated on the lesson's network and loss: a mistake that another
        # test already charged is not charged again here, once the model is seen to have learned.
        return ("Held-out accuracy not scored: " + "; ".join(problems) + ". Another test already "
                "counts that mistake; fix it there and this test will measure accuracy.",
                {"not_scored": problems, "threshold": ev.threshold})
    score = accuracy(measured.get("predictions", []), ev.heldout_labels)
    found = {"heldout_accuracy": round(score, 4), "threshold": ev.threshold}
    if not score >= ev.threshold:
        if not trained and steps == 0:
            raise Fail("untrained", "model_dropout was never trained: call train(model_dropout, train_images, "
                                    "train_labels, EPOCHS) before this cell.", measured=found)
        why = ""
        loss, untrained = measured.get("val_loss"), measured.get("fresh_val_loss")
        if isinstance(steps, int) and steps < asked:
            why = f" It was trained for {steps:,} of the {asked:,} updates that EPOCHS epochs on all of train_images make."
        if not trained and isinstance(loss, float) and isinstance(untrained, float):
            why += (f" Its validation loss ({loss:.3f}) is hardly below an untrained network's ({untrained:.3f}): "
                    "it did not learn.")
        raise Fail("below_threshold", f"model_dropout classifies {score:.1%} of the held-out images correctly, "
                                      "less than a correctly compiled and trained model reaches with this budget."
                                      f"{why} Train model_dropout with train(...) for EPOCHS epochs on all of "
                                      "train_images.", measured=found)
    return f"model_dropout classifies {score:.1%} of the held-out images correctly.", found


# ---------------------------------------------------------------- Part H: tuning
def _tuning(ev):
    values = ev.values("tuning")
    rates = list(ev.budget.dropout_rates)
    losses = numbers(values, "val_losses")
    if losses is None or len(losses) != len(rates):
        raise Fail("val_losses", f"val_losses should hold one validation loss per rate in DROPOUT_RATES "
                                 f"({len(rates)}); it holds {len(values.get('val_losses') or [])}.")
    best = values.get("best_rate")
    if isinstance(best, bool) or not isinstance(best, (int, float)) or float(best) not in rates:
        raise Fail("best_rate", f"best_rate should be one of DROPOUT_RATES {rates}, not {best!r}.")
    for i, rate in enumerate(rates):
        if names.tuned(i) not in ev.models:
            raise Fail("tuned_models", f"tuned_models has no model for rate {rate}: keep each trained candidate "
                                       "in tuned_models, a dict from each rate to the model trained with it; the "
                                       "grader measures them again.")
        ev.model(names.tuned(i), f"tuned_models[{rate}]")
    return rates, losses, float(best)


def tuning_form(ev):
    _tuning(ev)


def tuning_best(ev):
    rates, losses, best = _tuning(ev)
    figures = []
    for i, (rate, reported) in enumerate(zip(rates, losses)):
        config, found = ev.model(names.tuned(i), f"tuned_models[{rate}]")
        drops = [layer.rate for layer in _layers(config) if layer.kind == "Dropout"]
        if len(drops) != 1 or not math.isclose(drops[0], rate):
            raise Fail("candidate_rate", f"tuned_models[{rate}] should have one Dropout({rate}) layer; it has "
                                         f"{drops or 'none'}. Build each candidate with build_model(dropout_rate=rate).")
        if "val_loss" not in found:
            raise Fail("candidate_loss", f"tuned_models[{rate}] has no loss to measure: compile it with compile_model.")
        if not math.isclose(reported, found["val_loss"], **CLOSE):
            raise Fail("val_loss_mismatch", f"val_losses[{i}] is {reported:.4f}, but tuned_models[{rate}] has a "
                                            f"validation loss of {found['val_loss']:.4f}: append each candidate's "
                                            "model.evaluate(val_images, val_labels, return_dict=True)['loss'].")
        figures.append(found)
    digests = [found.get("weights") for found in figures]
    same = [rate for rate, digest in zip(rates, digests) if digests.count(digest) > 1]
    if same:
        raise Fail("identical_candidates", f"tuned_models {same} hold the very same weights, so their losses tie "
                                           "and the best rate cannot be told from the others: build and train a "
                                           "new candidate for each rate, compile_model(build_model(dropout_rate=rate)) "
                                           "inside the loop.")
    # Whether each candidate was trained is not judged from its loss: the few updates a budget
    # gives each one (500 images, one epoch, at the grading budget) can leave a correctly trained
    # candidate's validation loss above the fresh network's, and the mutation suite saw that
    # charge five submissions whose Part H was right (docs/validity.md). Distinct candidates and
    # the lowest measured loss still decide the best rate.
    lowest = rates[int(np.argmin([found["val_loss"] for found in figures]))]
    if best != lowest:
        raise Fail("not_lowest", f"best_rate is {best!r}, but the lowest validation loss belongs to rate {lowest}: "
                                 "pick the rate whose loss is smallest (np.argmin), not the largest.")


# ---------------------------------------------------------------- Part I: saving
def _paths(ev):
    values = ev.values("saving")
    paths = {key: values.get(key) for key in names.SAVED_PATHS}
    for key, path in paths.items():
        if not isinstance(path, str):
            raise Fail("path", f"{key} should be a file name, not {str(path)[:60]}.")
        if names.saved(path) not in ev.models:
            raise Fail("missing_file", f"{path} does not exist next to the notebook: save the model with "
                                       f".save({path!r}).")
    best = values.get("best_model_path")
    if best not in paths.values():
        raise Fail("best_path", f"best_model_path should be BASELINE_PATH or DROPOUT_PATH, not {str(best)[:60]!r}.")
    return paths, best


def save_form(ev):
    _paths(ev)


def save_best(ev):
    paths, best = _paths(ev)
    for key, path in paths.items():
        if not path.endswith(".keras"):
            raise Fail("suffix", f"{key} should name a file ending in .keras (Keras 3's format), not {path!r}.")
    losses = {}
    for path, live in ((paths["BASELINE_PATH"], names.FINAL_BASE), (paths["DROPOUT_PATH"], names.FINAL_DROPOUT)):
        _, on_disk = ev.model(names.saved(path), path)
        _, current = ev.model(live, "the model saved to " + path)
        if on_disk.get("weights") != current.get("weights"):
            raise Fail("stale_weights", f"{path} does not hold the trained model's weights: save it after training.")
        if "val_loss" not in on_disk:
            raise Fail("not_compiled", f"{path} was saved without its compile settings: save the compiled model.")
        losses[path] = on_disk["val_loss"]
    lowest = min(losses, key=losses.get)
    if best != lowest:
        raise Fail("not_best", f"best_model_path is {best!r}, but {lowest!r} has the lower validation loss: "
                               "compare model.evaluate(val_images, val_labels) for both models.")

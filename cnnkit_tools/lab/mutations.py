"""Single-concept mutants of the reference: each must lose its concept's points, and only those.

A mutant is an edit of the reference (see :mod:`cnnkit.submissions`) that gets one concept
wrong. ``fails`` is the exact set of test cells it must lose; ``CONCEPT_CELLS`` says which
cells belong to each concept, so a report can tell a *precise* mutant (it loses only cells of
its own concept) from one whose mistake spills into other parts. Where a mutant's ``fails``
reaches beyond its concept, its note says why the grader cannot avoid it.

``ci=True`` marks the mutants the kit's test suite grades under the smoke budget; the rest
are graded only by ``python -m cnnkit_tools.lab.mutation_report`` (``./kit mutants``), because every
mutant costs a whole notebook run.
"""

from cnnkit_grader.judge.tasks import concept_cells

from ..submissions import Change, Edit
from .variants import VARIANTS

# The test cells of each concept: the grader's one table says which cell tests which concept.
CONCEPT_CELLS = concept_cells()

_LOSS = "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)"
_FIT = ("return model.fit(images, labels, epochs=epochs, batch_size=BATCH_SIZE,\n"
        "                     validation_data=(val_images, val_labels), verbose=2)\n")

# A History filled in by hand after fit, with the final scores repeated for every epoch: the
# right type, keys, lengths and final val_loss, but not the curves that fit recorded.
_HAND_BUILT_HISTORY = '''def train(model, images, labels, epochs):
    model.fit(images, labels, epochs=epochs, batch_size=BATCH_SIZE, verbose=2)
    history = keras.callbacks.History()
    history.set_model(model)
    scores = model.evaluate(images, labels, verbose=0, return_dict=True)
    val_scores = model.evaluate(val_images, val_labels, verbose=0, return_dict=True)
    history.history = {key: [value] * epochs for key, value in scores.items()}
    history.history.update({"val_" + key: [value] * epochs for key, value in val_scores.items()})
    return history
'''

_DROPOUT_AFTER_CONV = ("    if dropout_rate is not None:\n"
                       "        x = keras.layers.Dropout(dropout_rate)(x)\n")
_OUTPUT = "    outputs = keras.layers.Dense(10)(x)\n"

# Labels are integers; a non-sparse loss expects one-hot labels, so fit raises on the shapes
# and every answer that needs the notebook's trained models has nothing to show. Part E keeps
# its points: the grader trains its own network, compiled as Part C asks, with train().
_CRASH_CELLS = frozenset({"test_heldout_accuracy", "test_tuning_form", "test_tuning_best", "test_save_form",
                          "test_save_best"})

# Without Flatten the output is a map of scores per image: fit raises on the labels' shape, and
# Keras cannot load the saved model_dropout again, so only Part G's layer tests (its config) are spared.
_NO_FLATTEN_CELLS = frozenset({"test_heldout_accuracy", "test_tuning_form", "test_tuning_best", "test_save_form",
                               "test_save_best"})

MUTANTS = (
    # ---------------------------------------------------------------- Part A: the network
    Change("conv_32_filters", "architecture", (
        Edit("build_model", 'x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)',
             'x = keras.layers.Conv2D(32, (3, 3), activation="relu")(inputs)'),
    ), frozenset({"test_build_structure"}), ci=True),
    Change("kernel_5x5", "architecture", (
        Edit("build_model", 'x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)',
             'x = keras.layers.Conv2D(50, (5, 5), activation="relu")(inputs)'),
    ), frozenset({"test_build_structure"})),
    Change("no_flatten", "architecture", (
        Edit("build_model", "    x = keras.layers.Flatten()(x)\n", ""),
    ), frozenset({"test_build_form", "test_build_structure"}) | _NO_FLATTEN_CELLS,
        note="Dense layers on 4x4 feature maps: fit raises, so model_dropout, Part H and the saved "
             "models have nothing to show; Part E trains the grader's own network and keeps its points"),
    Change("dense_without_activation", "architecture", (
        Edit("build_model", 'x = keras.layers.Dense(50, activation="relu")(x)',
             "x = keras.layers.Dense(50)(x)"),
    ), frozenset({"test_build_structure"})),
    # ---------------------------------------------------------------- Part B: regression losses
    Change("regression_losses_swapped", "regression losses", (
        Edit("regression_losses", "return float(mse), float(mae)", "return float(mae), float(mse)"),
    ), frozenset({"test_regression_losses"})),
    Change("regression_root_mse", "regression losses", (
        Edit("regression_losses", "return float(mse), float(mae)", "return math.sqrt(float(mse)), float(mae)"),
    ), frozenset({"test_regression_losses"})),
    # ---------------------------------------------------------------- Part C: compiling
    Change("mse_loss", "loss", (
        Edit("compile_model", _LOSS, 'loss="mse"'),
    ), frozenset({"test_compile_loss"}), ci=True),
    Change("categorical_crossentropy", "loss", (
        Edit("compile_model", "SparseCategoricalCrossentropy", "CategoricalCrossentropy"),
    ), frozenset({"test_compile_loss"}) | _CRASH_CELLS, ci=True,
        note="fit raises (one-hot loss, integer labels): the notebook's trained models have nothing to show"),
    Change("logits_mismatch", "loss", (
        Edit("compile_model", "from_logits=True", "from_logits=False"),
    ), frozenset({"test_compile_loss"}), ci=True, note="logits fed to a loss that expects probabilities"),
    Change("softmax_with_logits_loss", "loss", (
        Edit("build_model", _OUTPUT, '    outputs = keras.layers.Dense(10, activation="softmax")(x)\n'),
    ), frozenset({"test_compile_loss"}), note="probabilities fed to a loss that expects logits"),
    # SGD at its default rate learns slowly: under the smoke budget's 250 updates the dropout
    # model's validation loss ends 98.5% of an untrained network's, on the edge of what Part G
    # counts as learned (rules.LEARNED), so one TensorFlow thread or two decide its held-out
    # cell. The CI suite tests the concept with RMSprop, which learns as Adam does; ./kit
    # mutants grades SGD under the grading budget, where it loses only its own cell.
    Change("sgd_optimizer", "optimizer", (
        Edit("compile_model", 'optimizer="adam"', 'optimizer="sgd"'),
    ), frozenset({"test_compile_optimizer"})),
    Change("rmsprop_optimizer", "optimizer", (
        Edit("compile_model", 'optimizer="adam"', 'optimizer="rmsprop"'),
    ), frozenset({"test_compile_optimizer"}), ci=True),
    Change("no_accuracy_metric", "metrics", (
        Edit("compile_model", ',\n                  metrics=["accuracy"]', ""),
    ), frozenset({"test_compile_metrics"}), ci=True),
    Change("adam_lr_10x", "training the dropout model", (
        Edit("compile_model", 'optimizer="adam"', "optimizer=keras.optimizers.Adam(learning_rate=0.01)"),
    ), frozenset({"test_heldout_accuracy"}), note="Adam, but with 10 times its default learning rate"),
    # ---------------------------------------------------------------- Part D: epochs and batches
    # The last, smaller batch is an update too; a number worked out for this notebook's own
    # N_TRAIN is wrong for the grader's (the probe reruns the cell with fresh ones).
    Change("updates_floor", "epochs and batches", (
        Edit("updates_per_epoch", "math.ceil(N_TRAIN / BATCH_SIZE)", "N_TRAIN // BATCH_SIZE"),
    ), frozenset({"test_updates_per_epoch"})),
    Change("updates_hard_coded", "epochs and batches", (
        Edit("updates_per_epoch", "math.ceil(N_TRAIN / BATCH_SIZE)", "469"),
    ), frozenset({"test_updates_per_epoch"})),
    # ---------------------------------------------------------------- Part E: training
    Change("fit_without_validation", "training", (
        Edit("train", ",\n                     validation_data=(val_images, val_labels)", ""),
    ), frozenset({"test_train_form", "test_train_history"}), ci=True),
    Change("zero_epochs", "training", (
        Edit("train", "epochs=epochs", "epochs=0"),
    ), frozenset({"test_train_form", "test_train_history", "test_heldout_accuracy"}),
        note="train() is Part E's answer and Part G trains with it, so model_dropout is "
             "untrained too"),
    Change("hand_built_history", "training", (
        Edit("train", None, _HAND_BUILT_HISTORY),
    ), frozenset({"test_train_history"}), ci=True),
    # ---------------------------------------------------------------- Part F: plotting
    Change("plot_wrong_columns", "plotting", (
        Edit("plot_history", 'frame[[metric, "val_" + metric]]', 'frame[["loss", "val_loss"]]'),
    ), frozenset({"test_plot_content"}), note="always plots the loss"),
    # ---------------------------------------------------------------- Part G: dropout
    Change("no_dropout", "dropout layer", (
        Edit("dropout", "build_model(dropout_rate=0.2)", "build_model()"),
    ), frozenset({"test_dropout_form", "test_dropout_layer"}), ci=True),
    Change("dropout_after_output", "dropout layer", (
        Edit("build_model", _DROPOUT_AFTER_CONV, ""),
        Edit("build_model", _OUTPUT, _OUTPUT + _DROPOUT_AFTER_CONV.replace("x = ", "outputs = ")
             .replace("(x)", "(outputs)")),
    ), frozenset({"test_dropout_layer"})),
    Change("dropout_rate_0.8", "dropout layer", (
        Edit("dropout", "build_model(dropout_rate=0.2)", "build_model(dropout_rate=0.8)"),
    ), frozenset({"test_dropout_layer"}), note="the lesson's code said 0.8 (the fraction kept)"),
    Change("untrained", "training the dropout model", (
        Edit("dropout", "history_dropout = train(model_dropout, train_images, train_labels, EPOCHS)\n",
             "history_dropout = None  # forgot to train\n"),
    ), frozenset({"test_heldout_accuracy"}), ci=True),
    # ---------------------------------------------------------------- Part H: tuning
    Change("argmax_best_rate", "tuning", (
        Edit("tune_dropout", "np.argmin(val_losses)", "np.argmax(val_losses)"),
    ), frozenset({"test_tuning_best"}), ci=True),
    # ---------------------------------------------------------------- Part I: saving
    Change("model_not_saved", "saving", (
        Edit("save_models", "model.save(BASELINE_PATH)\n", ""),
    ), frozenset({"test_save_form", "test_save_best"})),
    Change("saved_as_h5", "saving", (
        Edit("save_models", 'BASELINE_PATH = "cifar_model.keras"', 'BASELINE_PATH = "cifar_model.h5"'),
        Edit("save_models", 'DROPOUT_PATH = "cifar_model_dropout.keras"',
             'DROPOUT_PATH = "cifar_model_dropout.h5"'),
    ), frozenset({"test_save_best"})),
)

CI_MUTANTS = tuple(mutant for mutant in MUTANTS if mutant.ci)

# A "partly wrong" sample for the demo: a wrong loss and no dropout.
PARTLY_WRONG = Change("partly_wrong", "several", sum(
    (mutant.edits for mutant in MUTANTS if mutant.name in ("mse_loss", "no_dropout")), ()))


def by_name(name):
    for change in VARIANTS + MUTANTS + (PARTLY_WRONG,):
        if change.name == name:
            return change
    raise KeyError(name)


def is_precise(mutant, lost):
    """True when the mutant lost points, and only in cells of its own concept."""
    return bool(lost) and set(lost) <= CONCEPT_CELLS[mutant.concept]

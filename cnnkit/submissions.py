"""Student submissions made from the release: the reference, variants and broken ones.

A submission starts from the release notebook, as a student receives it, and fills its
answer cells. The *reference* fills each with the source's solution. A *variant* solves a
task correctly in another style and must score full marks; a *mutant* gets exactly one
concept wrong and must lose exactly that concept's points. Both are edits of the
reference, so they follow the notebook when it changes; an edit that no longer applies
raises instead of silently testing nothing.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

ASSIGNMENT = "compile_and_train"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
_SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

# What a student might write for the manually graded questions.
WRITTEN_ANSWERS = {
    "answer_training_curve": (
        "1. The training loss drops fast in the first epoch and then more slowly, and the "
        "training accuracy climbs; the curves are smooth.\n2. Not on their own: they measure "
        "the images the model learned from. The validation curves show how it does on unseen "
        "images, and a growing gap between the two means overfitting."),
    "answer_dropout_rate": (
        "1. With less dropout the model fits the training images faster and overfits sooner; "
        "with a lot of dropout it learns slowly and underfits. The lowest validation loss was "
        "in between.\n2. Hyperparameter tuning. Choosing on the test set would tune the model to "
        "it, so its score would no longer be a fair estimate."),
}


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` with ``new`` in the answer cell ``cell``; ``old=None`` replaces it all."""
    cell: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    """A named submission: edits of the reference, and the test cells it should fail."""
    name: str
    concept: str
    edits: tuple
    fails: frozenset = frozenset()   # grade_ids that must score 0; all others full marks
    note: str = ""


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _solutions(source_nb):
    """Answer text per grade_id: the source's solution with the markers removed."""
    answers = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if cell.cell_type == "code":
                answers[meta["grade_id"]] = _SOLUTION_MARKER.sub("", cell.source)
            else:
                answers[meta["grade_id"]] = WRITTEN_ANSWERS[meta["grade_id"]]
    return answers


def read(path):
    return nbformat.read(str(path), as_version=4)


def reference(source_path, release_path):
    """The release notebook with every answer cell filled in from the source."""
    answers = _solutions(read(source_path))
    nb = read(release_path)
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[grade_id]
    return nb


def apply(nb, change):
    """A copy of ``nb`` with the change's edits applied to its answer cells."""
    nb = nbformat.from_dict(nb)
    cells = {_grade_id(cell): cell for cell in nb.cells if _grade_id(cell)}
    for edit in change.edits:
        cell = cells.get(edit.cell)
        if cell is not None and edit.old is None:
            cell.source = edit.new
            continue
        if cell is None or edit.old not in cell.source:
            raise ValueError(f"{change.name}: cannot find {edit.old!r} in cell {edit.cell!r}; "
                             "update the edit to match the source notebook")
        cell.source = cell.source.replace(edit.old, edit.new)
    return nb


def write(nb, course_dir, student):
    """Put ``nb`` where nbgrader expects student's submission, and return its path."""
    path = Path(course_dir) / "submitted" / student / ASSIGNMENT / NOTEBOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# -------------------------------------------------------------- correct variants
_SEQUENTIAL = '''def build_model(dropout_rate=None):
    layers = [
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(50, 3, activation="relu", name="first_conv"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(50, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(50, 3, activation="relu"),
    ]
    if dropout_rate is not None:
        layers.append(keras.layers.Dropout(dropout_rate, name="regulariser"))
    layers += [keras.layers.Flatten(), keras.layers.Dense(50, activation="relu"),
               keras.layers.Dense(10, name="class_scores")]
    return keras.Sequential(layers, name="my_cnn")
'''

VARIANTS = (
    Change("sequential_api", "structure", (
        Edit("build_model", None, _SEQUENTIAL),
    ), note="keras.Sequential with other layer names instead of the functional API"),
    Change("optimizer_object", "optimizer", (
        Edit("compile_model", 'optimizer="adam"', "optimizer=keras.optimizers.Adam()"),
    )),
    Change("softmax_output", "loss", (
        Edit("build_model", "outputs = keras.layers.Dense(10)(x)",
             'outputs = keras.layers.Dense(10, activation="softmax")(x)'),
        Edit("compile_model", "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
             'loss="sparse_categorical_crossentropy"'),
    ), note="probabilities out of a softmax layer, with from_logits=False"),
    Change("other_names", "names", (
        Edit("dropout", "model_dropout = compile_model(build_model(dropout_rate=0.2))\n",
             "net = build_model(dropout_rate=0.2)\nmodel_dropout = compile_model(net)\n"),
        Edit("tune_dropout", "candidate", "trial_net"),
    ), note="other variable names inside the answers"),
)


# -------------------------------------------------------------- single-concept mutants
MUTANTS = (
    Change("mse_loss", "loss", (
        Edit("compile_model", "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)", 'loss="mse"'),
    ), frozenset({"test_compile_loss"})),
    Change("logits_mismatch", "loss", (
        Edit("compile_model", "SparseCategoricalCrossentropy(from_logits=True)",
             "SparseCategoricalCrossentropy(from_logits=False)"),
    ), frozenset({"test_compile_loss"})),
    Change("no_dropout", "dropout", (
        Edit("dropout", "build_model(dropout_rate=0.2)", "build_model()"),
    ), frozenset({"test_dropout_form", "test_dropout_layer"})),
    Change("conv_32_filters", "structure", (
        Edit("build_model", "x = keras.layers.Conv2D(50, (3, 3), activation=\"relu\")(inputs)",
             "x = keras.layers.Conv2D(32, (3, 3), activation=\"relu\")(inputs)"),
    ), frozenset({"test_build_structure"})),
    Change("fit_without_validation", "training", (
        Edit("train", ",\n                     validation_data=(val_images, val_labels)", ""),
    ), frozenset({"test_train_form", "test_train_history"})),
    Change("untrained", "accuracy", (
        Edit("dropout", "history_dropout = train(model_dropout, train_images, train_labels, EPOCHS)\n",
             "history_dropout = None  # forgot to train\n"),
    ), frozenset({"test_heldout_accuracy"})),
)

# A "partly wrong" sample for the demo: a wrong loss and no dropout.
PARTLY_WRONG = Change("partly_wrong", "several", MUTANTS[0].edits + MUTANTS[2].edits)


def by_name(name):
    for change in VARIANTS + MUTANTS + (PARTLY_WRONG,):
        if change.name == name:
            return change
    raise KeyError(name)


def source_and_release(root):
    root = Path(root)
    return root / "source" / ASSIGNMENT / NOTEBOOK, root / "release" / ASSIGNMENT / NOTEBOOK


def samples(root):
    """The demo's sample submissions, by student id."""
    ref = reference(*source_and_release(root))
    return {"reference": ref,
            "partly_wrong": apply(ref, PARTLY_WRONG),
            "untouched": read(source_and_release(root)[1])}


def write_samples(course_dir, root=None):
    """Write the sample submissions into course_dir/submitted/; return their paths."""
    return {student: write(nb, course_dir, student)
            for student, nb in samples(root or course_dir).items()}

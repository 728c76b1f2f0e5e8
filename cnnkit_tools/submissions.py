"""Student submissions made from the release: the reference, variants and broken ones.

A submission starts from the release notebook, as a student receives it, and fills its
answer cells. The *reference* fills each with the source's solution. A *variant* solves a
task correctly in another style and must score full marks; a *mutant* gets exactly one
concept wrong and must lose exactly that concept's points. Both are edits of the
reference, so they follow the notebook when it changes; an edit that no longer applies
raises instead of silently testing nothing. The variants live in :mod:`cnnkit_tools.lab.variants`,
the mutants in :mod:`cnnkit_tools.lab.mutations`, the demo's samples in :mod:`cnnkit_tools.samples`.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from cnnkit_grader.judge.tasks import grade_id

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
    ci: bool = False                 # graded by the kit's test suite, not only by the benchmark


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
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[grade_id(cell)]
    return nb


def apply(nb, change):
    """A copy of ``nb`` with the change's edits applied to its answer cells."""
    nb = nbformat.from_dict(nb)
    cells = {grade_id(cell): cell for cell in nb.cells if grade_id(cell)}
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


def source_and_release(root):
    root = Path(root)
    return root / "source" / ASSIGNMENT / NOTEBOOK, root / "release" / ASSIGNMENT / NOTEBOOK

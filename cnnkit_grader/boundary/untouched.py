"""Is this submission the release, untouched? Then its grades are known without running it.

A notebook whose code is still exactly the release's raises ``NotImplementedError`` in every
answer cell: running it (kernel, TensorFlow, probe, measurement) costs 20 s and can only give
0 on every autograded cell. ``GuardedExecute`` asks :func:`is_untouched` before it starts
anything, and when it holds, runs nothing and ``ScoreOutside`` scores every test cell 0 with a
message saying why.

What is compared, and with what, is all trusted:

- the release is the course's own ``release/<assignment>/<notebook>.ipynb``, which
  ``nbgrader generate_assignment`` writes in the course folder; it belongs to the grader's
  account, students only ever get a copy of it through the exchange, so none can write it
  (``intake.TolerantExporter`` grades an unreadable notebook as this same file). nbgrader's
  gradebook (``SourceCell``) was not used: it records only the cells nbgrader tracks, not
  their order, so it cannot see an added, removed or reordered plain code cell;
- the submission is the notebook nbgrader is grading, after its ``OverwriteCells`` restored the
  locked and test cells. Only its cells' *type and source* are read: its metadata, checksums
  included, is the student's to forge and decides nothing here;
- the files beside the notebook: any the kernel would be given (a ``pandas.py`` it would import
  first, say) make the outcome unknown in advance, so only the release's own files, byte for
  byte, nbgrader's ``timestamp.txt`` and what the kernel is never given (notebooks, model
  files) are allowed.

Anything else (a code cell added, removed, reordered or edited by one character, a markdown
cell turned into code) is not untouched, and the submission is graded in full.
"""

from pathlib import Path

import nbformat

from cnnkit_grader.boundary import files
from cnnkit_grader.boundary.workspace import NEVER_GIVEN, without_hidden

ALWAYS_ALLOWED = ("timestamp.txt",)   # nbgrader's own record of when it was submitted


def code_cells(nb):
    """The notebook's code cells' sources, in order, hidden tests left out.

    nbgrader's release has no hidden tests, while ``OverwriteCells`` puts them back into the
    graded notebook's test cells (and the release, as nbgrader writes it, ends no cell with a
    newline); both sides drop them, and trailing blank space, so that they compare equal."""
    return [without_hidden(cell.source).rstrip() for cell in nb.cells if cell.cell_type == "code"]


def same_code(nb, release):
    """True when nb's code cells are exactly the release's: same count, order and source."""
    return code_cells(nb) == code_cells(release)


def _same_file(path, released):
    """Both regular files (never links), with the same bytes."""
    return (path.is_file() and not path.is_symlink() and released.is_file() and not released.is_symlink()
            and path.stat().st_size == released.stat().st_size and path.read_bytes() == released.read_bytes())


def only_release_files(folder, release_folder):
    """True when folder holds no file the kernel would be given but the release's own, unchanged."""
    folder, release_folder = Path(folder), Path(release_folder)
    return all(name in ALWAYS_ALLOWED or name.endswith(NEVER_GIVEN)
               or _same_file(folder / name, release_folder / name) for name in files.list_names(folder))


def is_untouched(nb, folder, release_path, log=None):
    """True when the submission (nb, with the files in folder) is the release at release_path, untouched.

    A release that cannot be read says nothing: the submission is graded in full."""
    try:
        release = nbformat.read(str(release_path), as_version=4)
        return same_code(nb, release) and only_release_files(folder, Path(release_path).parent)
    except (OSError, ValueError) as err:
        if log is not None:
            log.warning("cannot compare with the release %s (%s): grading in full", release_path, err)
        return False

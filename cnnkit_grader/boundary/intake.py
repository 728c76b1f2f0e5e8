"""Take a submission in without trusting it: links refused, bad notebooks read safely.

- ``SafeAutograde`` is nbgrader's ``Autograde`` with one change of behaviour: before nbgrader
  copies a submission's extra files (with ``shutil.copy``, which follows links, as the
  grader), it refuses every link, FIFO, socket or device in the submission, so none is
  followed, and says so in a note. It also tells the grader's preprocessors which student,
  assignment and folders they work on. nbgrader 0.9.6 has no setting for its converter class,
  so ``nbgrader_config.py`` installs this class in its place.
- ``TolerantExporter`` reads a notebook that cannot be read (not JSON, not a notebook, too large,
  or a link) as the blank release, with a note, so the batch goes on and the gradebook records
  zeros the feedback explains. A renamed notebook is graded under the expected name, with a note.
- ``recover_renamed`` (a pre-convert hook) and ``DropEmptyMetadata`` keep nbgrader from
  skipping a renamed notebook or crashing on a duplicated test cell.
- ``RestoreCells`` is nbgrader's ``OverwriteCells``, which a changed notebook cannot crash: a
  graded cell whose grade or solution flag was edited gets the gradebook's back (nbgrader
  restores the source and then fails on the checksum those flags are part of), and graded cells
  deleted together go back in the source's order (nbgrader fails with KeyError when the cell
  before a missing one is missing too). Either way nbgrader stopped, and a student could force
  a grader error, with no feedback, as often as they liked.

Submitted files are never written.
"""

import glob
import os
import stat
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader import utils as nbgrader_utils
from nbgrader.api import GradeCell, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells

from cnnkit_grader.boundary import files
from cnnkit_grader.judge.tasks import grade_id as _grade_id

MAX_NOTEBOOK = 50 * 2**20  # the solved notebook, plots included, is about 200 kB


def make_private(root, db_url, autograded="autograded", create=True):
    """The autograded folder and the SQLite gradebook hold every student's work and marks: only
    their owner (the course's grader account) may open them, never the hub's other accounts.
    The owner is kept, so a formgrader running as the course's account still reads them.
    SQLite makes its journal with the database's mode, so the journal is private too."""
    folder = Path(root) / autograded
    if create:
        folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_dir() and not folder.is_symlink():
        folder.chmod(0o700)
    if db_url.startswith("sqlite:///"):
        gradebook = Path(db_url[len("sqlite:///"):])
        if gradebook.is_file() and not gradebook.is_symlink():
            gradebook.chmod(0o600)


class SafeAutograde(Autograde):
    def init_assignment(self, assignment_id, student_id):
        make_private(self.coursedir.root, self.coursedir.db_url, self.coursedir.autograded_directory)
        submission = self._format_source(assignment_id, student_id)
        self._refused = files.non_regular(submission)
        if self._refused == ["."]:
            # nbgrader records this submission as failed and goes on with the others.
            raise RuntimeError(f"{submission} is a link or not a folder: refusing to grade what it points to")
        ignore = list(self.coursedir.ignore)
        # nbgrader's copy skips what matches CourseDirectory.ignore: name each refused entry there.
        self.coursedir.ignore = ignore + [glob.escape(os.path.basename(p)) for p in self._refused]
        try:
            super().init_assignment(assignment_id, student_id)
        finally:
            self.coursedir.ignore = ignore
        if self._refused:
            self.log.warning("refused links and special files in %s: %s", submission, ", ".join(self._refused))

    def init_single_notebook_resources(self, notebook_filename):
        resources = super().init_single_notebook_resources(notebook_filename)
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        coursedir = self.coursedir
        resources["cnnkit_course"] = {
            "root": str(Path(coursedir.root).resolve()), "student": student, "assignment": assignment,
            "autograded": coursedir.format_path(coursedir.autograded_directory, student, assignment),
            "release": coursedir.format_path(coursedir.release_directory, ".", assignment),
            "db_url": coursedir.db_url}
        if self._sanitizing:
            resources["cnnkit_intake"] = {"refused": list(getattr(self, "_refused", []))}
        return resources


def _expected(folder):
    root, assignment = Path(folder).resolve().parents[2], Path(folder).name
    return {p.name for p in (root / "release" / assignment).glob("*.ipynb")}


def recover_renamed(assignment=None, student=None, notebooks=()):
    """nbgrader pre-convert hook: point an unknown notebook's entry at the expected name.

    nbgrader skips a notebook whose name the assignment does not know, and then finds nothing
    to grade. When a submission lacks exactly one expected notebook and has exactly one unknown
    one, this renames the entry (not the file); ``TolerantExporter`` then reads the unknown file.
    """
    folders = {str(Path(n).parent) for n in notebooks}
    for folder in folders:
        expected = _expected(folder)
        present = {Path(n).name for n in notebooks if str(Path(n).parent) == folder}
        missing, unknown = sorted(expected - present), sorted(present - expected)
        if len(missing) == 1 and len(unknown) == 1:
            notebooks[notebooks.index(str(Path(folder) / unknown[0]))] = str(Path(folder) / missing[0])


def _renamed(path):
    others = [p for p in path.parent.glob("*.ipynb") if p.name not in _expected(path.parent)]
    return others[0] if len(others) == 1 else None


def read_notebook(path):
    """The notebook at path, opened without following a link and read within MAX_NOTEBOOK bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > MAX_NOTEBOOK:
            raise ValueError(f"it is {info.st_size / 2**20:,.0f} MB, more than the {MAX_NOTEBOOK // 2**20} MB "
                             "a notebook may be; clear large outputs before submitting")
        text = handle.read(MAX_NOTEBOOK + 1).decode("utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    return nb


class TolerantExporter(NotebookExporter):
    def from_filename(self, filename, resources=None, **kw):
        path = Path(os.path.abspath(filename))
        resources = resources if resources is not None else {}
        intake = resources.get("cnnkit_intake")   # only while nbgrader reads the submitted copy
        course = resources.get("cnnkit_course") or {}
        notes, outcome = [], None
        if intake and intake.get("refused"):
            notes.append(f"Not taken from your submission: {', '.join(intake['refused'])} (links and "
                         "special files are refused; submit regular files only).")
        if not os.path.lexists(path) and _renamed(path) is not None:
            notes.append(f"Your notebook was named {_renamed(path).name!r}; it was graded as "
                         f"{path.name!r}. Keep the name the assignment gives it.")
            path = _renamed(path)
        try:
            nb = read_notebook(path)
        except Exception as err:  # noqa: BLE001 - any unreadable notebook gets the same treatment
            self.log.error("%s cannot be read (%s); grading the release notebook instead", path, err)
            release = Path(course.get("release") or path.parents[3] / "release" / path.parent.name) / \
                Path(filename).name
            nb = nbformat.read(release, as_version=4)
            reason = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
            notes.append(f"Your submitted notebook could not be read ({reason}), so it was graded as "
                         "the blank assignment. Check that it opens in Jupyter and submit it again.")
            outcome = "unreadable"
        if intake is not None:
            # What intake found travels with the notebook; anything a student put here is replaced.
            nb.metadata["cnnkit"] = {"notes": notes, "outcome": outcome}
            for cell in nb.cells:
                cell.metadata.pop("cnnkit", None)
        resources.setdefault("metadata", {})
        resources["metadata"]["name"] = Path(filename).stem
        resources["metadata"]["path"] = str(Path(filename).parent.resolve())
        return self.from_notebook_node(nb, resources=resources, **kw)


class DropEmptyMetadata(NbGraderPreprocessor):
    """Remove the empty nbgrader metadata that DeduplicateIds leaves on a duplicated cell.

    nbgrader 0.9.6's OverwriteCells then fails with KeyError: 'grade_id' and the whole
    submission is lost. Without the metadata, the copy is an ordinary cell.
    """

    def preprocess_cell(self, cell, resources, index):
        if "nbgrader" in cell.metadata and "grade_id" not in cell.metadata.nbgrader:
            del cell.metadata["nbgrader"]
        return cell, resources


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, which an edited or cut-down notebook cannot crash."""

    def preprocess_cell(self, cell, resources, index):
        grade_id = _grade_id(cell)
        if grade_id is not None:
            self._restore_flags(cell, grade_id)
        return super().preprocess_cell(cell, resources, index)

    def _find(self, find, grade_id):
        try:
            return find(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return None

    def _restore_flags(self, cell, grade_id):
        """The grade and solution flags as the gradebook has them (the checksum covers both)."""
        if self._find(self.gradebook.find_source_cell, grade_id) is None:
            return  # not the course's cell: nbgrader drops its id
        meta = cell.metadata.nbgrader
        graded = self._find(self.gradebook.find_graded_cell, grade_id)
        wanted = {"grade": isinstance(graded, GradeCell),
                  "solution": self._find(self.gradebook.find_solution_cell, grade_id) is not None}
        for flag, value in wanted.items():
            if bool(meta.get(flag, False)) != value:
                self.report_change(grade_id, flag, value, meta.get(flag, False))
                meta[flag] = value
        if wanted["grade"]:
            meta["points"] = float(graded.max_score)

    def add_missing_grade_cells(self, nb, resources):
        """Each graded cell the notebook lacks goes back after the nearest earlier cell of the
        source that it has, in the source's order, so one put back anchors the next."""
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        cells = {c.name: c for c in source.source_cells}
        order = [c.name for c in source.source_cells]
        graded = {c.name: c for c in source.grade_cells}
        solutions = {c.name for c in source.solution_cells}
        for name in order:
            where = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
                     if "grade_id" in c.metadata.get("nbgrader", {})
                     and (nbgrader_utils.is_grade(c) or nbgrader_utils.is_solution(c))}
            if name not in graded or name in where:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", name)
            earlier = [where[n] for n in reversed(order[:order.index(name)]) if n in where]
            at = earlier[0] + 1 if earlier else 0
            cell = self.missing_cell_transform(cells[name], graded[name].max_score, is_solution=name in solutions)
            nb.cells.insert(at, nbformat.from_dict(cell))  # attribute access all the way down, as read
        return nb, resources

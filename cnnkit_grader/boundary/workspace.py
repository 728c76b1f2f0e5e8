"""A submission's workspace: its sandbox slot, the scratch copy the kernel works in, and the
checks that pass before any of the student's code runs.

``GuardedExecute`` opens one per submission with ``prepare`` and closes it with its ExitStack:

- a slot (its own user, as root), so no two submissions ever share a user, a folder or a group;
- a scratch folder, a sized tmpfs of its own, holding only this student's files: what nbgrader
  put in ``autograded/<student>/<assignment>/``, never a link, never a model file, within
  ``SUBMISSION_LIMITS``; the notebook there is written by the grader, without the hidden tests
  nbgrader restored (``kernel_copy``);
- the kernel's runtime folder (its connection file and sockets), a small tmpfs too;
- a self-test, from inside a sandbox built like the kernel's, that the course's secrets are out
  of reach by absolute and relative paths (``hidden_paths``), and a preflight that the kernel
  imports the cnnkit the grader bound: a failure of either is the grader's, never the student's;
- the hand-over folder (``handover.make_folder``).

After the notebook, ``copy_back`` returns the models it saved to the student's folder.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from cnnkit import data

from cnnkit_grader.boundary import files, fresh, handover, preflight, sandbox
from cnnkit_grader.boundary.kernel import SandboxedKernelManager

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.MULTILINE | re.DOTALL)
SUBMISSION_LIMITS = files.Limits(files=1000, file_bytes=50 * 2**20, total_bytes=200 * 2**20)
COPY_BACK_LIMITS = files.Limits(files=10, file_bytes=50 * 2**20, total_bytes=100 * 2**20)
MODEL_SUFFIXES = (".keras", ".h5")
NEVER_GIVEN = (".ipynb", *MODEL_SUFFIXES)   # the kernel gets the grader's own notebook, and no model


def without_hidden(source):
    """A cell's code as the kernel may see it: every hidden test removed."""
    return HIDDEN.sub("", source)


def kernel_copy(nb, path):
    """Write the notebook as the kernel may read it: every hidden test's code removed."""
    import nbformat

    copy = nbformat.from_dict(nb)
    for cell in copy.cells:
        cell.source = without_hidden(cell.source)
    nbformat.write(copy, str(path))


def hidden_paths(course, folder):
    """Host paths the sandbox must not reach: the course's secrets, other students, the test batch."""
    root = Path(course["root"])
    hidden = [root / name for name in ("source", "submitted", "autograded", "feedback", ".git",
                                       "nbgrader_config.py", "cnnkit_grader", fresh.SECRET_FILE)]
    hidden += [folder] + sandbox.outside_binds(Path.home())
    db_url = course.get("db_url") or ""
    if db_url.startswith("sqlite:///"):
        hidden.append(Path(db_url[len("sqlite:///"):]))
    batches = data.local_batches_dir()
    if batches is not None:
        hidden += [batches / data.TEST_BATCH, batches]
    return [p for p in hidden if str(p) not in ("/", "/tmp")]


@dataclass
class Workspace:
    """What ``prepare`` made: the slot, the kernel's scratch and runtime folders, and the kernel
    manager class bound to them (None when the sandbox is off, so nbgrader's own is used)."""
    slot: object
    scratch: Path
    runtime: Path
    kernel_manager_class: type = None

    def copy_back(self, folder):
        """Move the model files the notebook saved into the student's folder, within limits; the
        names refused (a link, too large, too many) for the student's notes."""
        models = [n for n in files.list_names(self.scratch) if n.endswith(MODEL_SUFFIXES)]
        return files.take(self.scratch, models, folder, COPY_BACK_LIMITS).refused


def prepare(stack, nb, notebook_name, folder, course, kernel_python, setup_sources, notes, log):
    """Open a submission's workspace on ``stack`` (which closes it) and return it.

    ``folder`` is the student's autograded folder, ``kernel_python`` the interpreter of the
    notebook's kernel, ``setup_sources`` the code of the instructor's setup cells (whose imports
    the preflight tries); what the student should know goes in ``notes``."""
    slot_ = (stack.enter_context(sandbox.slot(log=log)) if sandbox.enabled()
             else sandbox.Slot(name="unsandboxed"))
    scratch, sized = stack.enter_context(sandbox.scratch_folder(slot_=slot_))
    # Every notebook here is nbgrader's own (it never copies a submission's .ipynb): the one it is
    # grading, written with the hidden tests it restored. The kernel gets it with them removed.
    taken = files.copy_tree(folder, scratch, SUBMISSION_LIMITS,
                            skip=lambda name: name.endswith(NEVER_GIVEN))
    kernel_copy(nb, scratch / f"{notebook_name}.ipynb")
    if taken.refused:
        notes.append(f"Not given to your notebook: {', '.join(taken.refused)}. Submit only "
                     "the notebook and small files it reads.")
    runtime, _ = stack.enter_context(sandbox.scratch_folder("cnnkit-kernel-", sandbox.RUNTIME_BYTES, slot_))
    workspace = Workspace(slot_, scratch, runtime)
    if sandbox.enabled():
        # The folder stays the grader's (sticky, group the slot's, 1770): the kernel writes in
        # it, but cannot rename or replace the hand-over folder made there.
        sandbox.give(scratch, slot_, include_root=False)
        sandbox.self_test(slot_, scratch, [scratch], files.list_names(scratch), hidden_paths(course, folder))
        # The kernel must import the cnnkit the grader bound, and find the lesson's packages;
        # else the submission is a grader error, never the student's zero.
        preflight.check(slot_, scratch, kernel_python, preflight.imported(setup_sources))
        workspace.kernel_manager_class = type("SubmissionKernelManager", (SandboxedKernelManager,),
                                              {"work_dir": str(scratch), "slot": slot_,
                                               "runtime_dir": str(runtime)})
    else:
        log.warning(sandbox.UNSAFE_WARNING)
        notes.append(sandbox.UNSAFE_WARNING)
    if not sized:
        log.info("the scratch folder is not a sized tmpfs (needs root): no disk quota")
    handover.make_folder(scratch, slot_)
    return workspace

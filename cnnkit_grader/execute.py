"""nbgrader's Execute step, hardened: sandboxed kernel, faults recorded, outputs capped.

Registered in ``nbgrader_config.py`` in place of nbgrader's ``Execute``. It

- runs the kernel in the sandbox (``sandbox``), in a scratch copy of the student's folder, so
  nothing the kernel does can touch the autograded folder that nbgrader later writes as the
  instructor; ``.keras`` files the notebook saved are copied back afterwards;
- turns a kernel death (``os._exit``, a crash, running out of memory) or a cell that will not
  stop (even one that ignores interrupts) into an error in that cell, marks the graded cells
  after it as not run, and keeps every result before it;
- caps each cell's and the notebook's output in bytes as it arrives;
- after each graded test cell, asks the kernel for the answers that cell is about
  (``harvest``) and moves them out of the kernel's reach at once, for ``score`` to judge.
"""

import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

from . import sandbox
from .kernel import SandboxedKernelManager

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.MULTILINE | re.DOTALL)
HARVEST = ".cnnkit-answers"    # folder in the kernel's scratch copy that harvest writes to
MAX_COPIED_FILE = 50 * 2**20   # extra files bigger than this are not given to the kernel


def grade_id(cell):
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") and cell.cell_type == "code" else None


def error_output(name, message):
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def copy_regular_files(source, target, max_size, skipped):
    """Copy regular files (never links) from source to target; list the ones left out in skipped."""
    for entry in os.scandir(source):
        if entry.is_symlink():
            skipped.append(f"{entry.name} (a link)")
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(Path(target) / entry.name)
            copy_regular_files(entry.path, Path(target) / entry.name, max_size, skipped)
        elif entry.name.endswith(".keras"):
            continue  # models must come from this run: never a stale or smuggled file
        elif entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
            if size > max_size:
                skipped.append(f"{entry.name} ({size / 2**20:,.0f} MB)")
            else:
                shutil.copyfile(entry.path, Path(target) / entry.name, follow_symlinks=False)


def take_files(folder, names, target, max_size=MAX_COPIED_FILE):
    """Copy the named regular files out of a folder the kernel controls, following no link."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return []
    taken = []
    try:
        for name in names:
            if "/" in name or name in (".", ".."):
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as src:
                info = os.fstat(src.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > max_size:
                    continue
                with open(Path(target) / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                taken.append(name)
    finally:
        os.close(dir_fd)
    return taken


def list_names(folder):
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return []
    try:
        return os.listdir(dir_fd)
    finally:
        os.close(dir_fd)


class GuardedExecute(Execute):
    cell_output_bytes = Integer(100_000, help="Output kept per cell, in bytes.").tag(config=True)
    notebook_output_bytes = Integer(1_000_000, help="Output kept per notebook, in bytes.").tag(config=True)
    harvest_timeout = Integer(300, help="Seconds the kernel gets to hand over a cell's answers.").tag(config=True)

    def __init__(self, **kwargs):
        if sandbox.enabled():
            kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    # ------------------------------------------------------------ the whole notebook
    def preprocess(self, nb, resources, km=None):
        folder = Path(resources["metadata"]["path"])
        self._fault = None
        self._notebook_bytes = 0
        self._cut_cell = None
        self._harvested = None
        self._answers = Path(tempfile.mkdtemp(prefix="cnnkit-answers-"))
        self._scratch = Path(tempfile.mkdtemp(prefix="cnnkit-work-"))
        self._scratch.chmod(0o755)
        skipped = []
        copy_regular_files(folder, self._scratch, MAX_COPIED_FILE, skipped)
        (self._scratch / HARVEST).mkdir()
        notes = [f"Not given to your notebook: {', '.join(skipped)}. Submit only the notebook "
                 "and small files it reads."] if skipped else []
        if sandbox.enabled():
            root = folder.parent.parent.parent
            sandbox.self_test(hidden=[root / "source", root / "submitted", root / "gradebook.db"])
            sandbox.give(self._scratch)
            self.kernel_manager_class = type("ScratchKernelManager", (SandboxedKernelManager,),
                                             {"work_dir": str(self._scratch)})
        else:
            self.log.warning(sandbox.UNSAFE_WARNING)
            notes.append(sandbox.UNSAFE_WARNING)
        resources["metadata"]["path"] = str(self._scratch)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            resources["metadata"]["path"] = str(folder)
            sandbox.take_back(self._scratch)
            take_files(self._scratch, [n for n in list_names(self._scratch) if n.endswith((".keras", ".h5"))], folder)
            shutil.rmtree(self._scratch, ignore_errors=True)
        resources["cnnkit"] = {"answers": str(self._answers), "fault": self._fault, "notes": notes,
                               "student_dir": str(folder)}
        return nb, resources

    # ------------------------------------------------------------ one cell
    def preprocess_cell(self, cell, resources, index):
        cell, resources = self._run_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1 and not self._fault:
            self._fill_gaps()
        return cell, resources

    def _fill_gaps(self):
        """Ask again for answers a test cell could not give, e.g. one moved above the code it tests."""
        import json

        for cell in self.nb.cells:
            grade = grade_id(cell)
            record = self._answers / f"{grade}.json"
            if grade and not self._fault and (not record.exists() or "error" in json.loads(record.read_text())):
                self._harvested = None
                self._harvest(grade)

    def _run_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._fault:
            cell.outputs = [error_output("NotRun", f"Not run: {self._fault}")] if grade_id(cell) else []
            return cell, resources
        self._cell_bytes = 0
        grade = grade_id(cell)
        if not grade:
            self._harvested = None  # the kernel's state may change: ask again after this
        source = cell.source
        # Hidden tests are judged outside the kernel; the kernel never sees their code.
        cell.source = HIDDEN.sub("", source) if grade else source
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._fault = (f"the kernel died in code cell {cell.get('execution_count') or index} "
                           "(os._exit, a crash, or running out of memory), so later cells could not run")
            cell.outputs.append(error_output("KernelDied", "Your kernel died while running this cell "
                                             "(os._exit, a crash, or running out of memory). Results of "
                                             "earlier cells are kept; later cells were not run."))
        except CellTimeoutError:
            self._fault = "an earlier cell ran past the time limit and would not stop"
            self._stop_kernel()
            cell.outputs.append(error_output("CellTimeout", f"This cell ran for more than {self.timeout} s "
                                             "and ignored the interrupt, so the kernel was stopped. Results "
                                             "of earlier cells are kept; later cells were not run."))
        finally:
            cell.source = source
        if any(o.output_type == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            cell.outputs = [o for o in cell.outputs if o.get("ename") != "CellTimeoutError"]
            cell.outputs.append(error_output("CellTimeout", f"This cell ran for more than {self.timeout} s "
                                             "and was interrupted."))
        if grade_id(cell):
            for output in cell.outputs:
                # A warning from the student's code is not a failed test; nbgrader would score it 0.
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
            if not self._fault:
                self._harvest(grade_id(cell))
        return cell, resources

    def _stop_kernel(self):
        try:
            self._run(self.km.shutdown_kernel(now=True))
        except Exception as err:  # noqa: BLE001 - a kernel already gone is what we want
            self.log.warning("stopping the kernel: %s", err)

    def _run(self, coroutine):
        from jupyter_core.utils import run_sync

        async def wrapper():
            return await coroutine
        return run_sync(wrapper)()

    def _harvest(self, grade):
        from .harvest import COLLECTORS

        if self._harvested is COLLECTORS[grade]:
            return  # the cell before asked for the same answers, and no answer cell ran since
        self._harvested = COLLECTORS[grade]
        code = (f"__import__('cnnkit_grader.harvest', fromlist=['collect']).collect("
                f"{grade!r}, globals(), {HARVEST!r})")
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            reply = self._run(self._wait(msg_id))
        except Exception as err:  # noqa: BLE001 - a broken kernel here is the student's fault
            reply = None
            self.log.warning("harvest after %s failed: %s", grade, err)
        if reply is None:
            self._fault = "the kernel stopped answering after a test cell"
            self._stop_kernel()
            return
        take_files(self._scratch / HARVEST, list_names(self._scratch / HARVEST), self._answers)

    async def _wait(self, msg_id):
        import asyncio

        deadline = time.monotonic() + self.harvest_timeout
        while time.monotonic() < deadline:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
                if not await self.kc.is_alive():
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        await asyncio.sleep(0)
        return None

    # ------------------------------------------------------------ output caps
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if msg["msg_type"] == "error":
            # Always keep the error, so the cell still fails, but never a flood inside it.
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[-60:]]
            return super().output(outs, msg, display_id, cell_index)
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        room = min(self.cell_output_bytes - self._cell_bytes, self.notebook_output_bytes - self._notebook_bytes)
        if size <= room:
            self._cell_bytes += size
            self._notebook_bytes += size
            return super().output(outs, msg, display_id, cell_index)
        out = None
        if room > 0 and msg["msg_type"] == "stream":
            content["text"] = content["text"][:room]
            out = super().output(outs, msg, display_id, cell_index)
        self._notebook_bytes += max(room, 0)
        self._cell_bytes = self.cell_output_bytes
        if self._cut_cell != cell_index:
            self._cut_cell = cell_index
            outs.append(new_output("stream", name="stdout", text=(
                f"\n[output cut: a cell may keep {self.cell_output_bytes:,} bytes of output and "
                f"a notebook {self.notebook_output_bytes:,}]\n")))
        return out

"""nbgrader's Execute step, hardened: the notebook runs sandboxed, and nothing it says is believed.

Registered in ``nbgrader_config.py`` in place of nbgrader's ``Execute``. For one submission it

- first compares the submission with the course's release (``untouched``): when its code cells
  are still exactly the release's, every test cell's grade is known (0), so it starts nothing
  below and ``ScoreOutside`` writes that verdict; otherwise
- opens the submission's *workspace* (``workspace``): a sandbox slot (its own user, as root),
  a scratch copy of only this student's files with the hidden tests removed, and a self-test
  and preflight that pass before any of the student's code runs;
- starts the *probe* (``probe.py``), which calls the student's functions with fresh inputs in
  a clean process, beside the notebook;
- runs the notebook in the sandboxed kernel, cell by cell, within a per-cell timeout and a
  budget for the whole notebook; a kernel death, a cell that will not stop, or a spent budget
  marks that cell and the graded cells after it "not run", and keeps everything before (the
  fault policy and its messages: ``faults``);
- caps each cell's and the notebook's output as it arrives, and keeps a malformed output out
  of its cell (``outputs``);
- after the graded cells whose answers live in the kernel (the trained models), has the
  kernel hand them over as files, and takes them out of its reach at once;
- copies the models the notebook saved back into the student's autograded folder, within limits
  (``Workspace.copy_back``);
- measures every model file in a sandboxed process that runs no student code (``measurement``),
  started with the notebook so its imports cost no time at the end.

Every phase gets a timestamp (``phases``). ``ScoreOutside`` then judges everything.
"""

import contextlib
import os
import re
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Integer, default

from cnnkit import settings
from cnnkit_grader.boundary import fresh, handover, measurement, preflight, sandbox, untouched, workspace
from cnnkit_grader.boundary.faults import Faults
from cnnkit_grader.boundary.kernel import SandboxedKernelManager
from cnnkit_grader.boundary.outputs import CappedOutputs
from cnnkit_grader.boundary.probe import ProbeRun
from cnnkit_grader.judge import tasks
from cnnkit_grader.plugins.record import GradingRecord

PART = re.compile(r"^## Part ([A-Z])\b", re.MULTILINE)


class GraderError(RuntimeError):
    """The grader itself is misconfigured; nbgrader records the submission as failed."""


def _env_int(name, default):
    return int(os.environ.get(name) or default)


def part_of_cells(nb):
    """``[phase name]`` per cell: the part whose heading comes last before it ("setup" before Part A)."""
    labels, current = [], "setup"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = PART.search(cell.source)
            current = f"part {match.group(1)}" if match else current
        labels.append(current)
    return labels


class GuardedExecute(CappedOutputs, Execute):
    cell_output_bytes = Integer(100_000, help="Output kept per cell, in bytes.").tag(config=True)
    notebook_output_bytes = Integer(1_000_000, help="Output kept per notebook, in bytes.").tag(config=True)
    handover_timeout = Integer(120, help="Seconds the kernel gets to hand over a cell's answers.").tag(config=True)
    notebook_timeout = Integer(help="Seconds the whole notebook may run ($CNNKIT_NOTEBOOK_TIMEOUT; "
                                    "default in cnnkit/settings.py).").tag(config=True)
    probe_timeout = Integer(help="Seconds the probe may take ($CNNKIT_PROBE_TIMEOUT; default in "
                                 "cnnkit/settings.py).").tag(config=True)
    measure_timeout = Integer(600, help="Seconds the sandboxed measurement of all models may take.").tag(config=True)

    @default("notebook_timeout")
    def _notebook_timeout_default(self):
        return _env_int("CNNKIT_NOTEBOOK_TIMEOUT", settings.default("CNNKIT_NOTEBOOK_TIMEOUT"))

    @default("probe_timeout")
    def _probe_timeout_default(self):
        return _env_int("CNNKIT_PROBE_TIMEOUT", settings.default("CNNKIT_PROBE_TIMEOUT"))

    def __init__(self, **kwargs):
        if sandbox.enabled():
            kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self.timeout_per_cell = self.timeout or 600  # self.timeout then shrinks to fit the notebook's budget

    # ------------------------------------------------------------ the whole notebook
    def preprocess(self, nb, resources, km=None):
        course = resources.get("cnnkit_course")
        if course is None:
            raise GraderError("GuardedExecute needs cnnkit_grader.boundary.intake.SafeAutograde, which "
                              "nbgrader_config.py installs in place of nbgrader's Autograde.")
        folder = self._student_folder(resources, course)
        self.record = record = GradingRecord.start(folder, nb.metadata.get("cnnkit", {}))
        resources["cnnkit"] = record
        self.phases = record.phases
        checked = time.monotonic()
        release = Path(course["release"]) / f"{resources['metadata'].get('name') or 'notebook'}.ipynb"
        if untouched.is_untouched(nb, folder, release, self.log):
            return nb, self._untouched(resources, folder, checked)
        self.phases.add("prepare", checked)   # the comparison is part of preparing the full run
        self.faults = Faults(self.notebook_timeout, self.cell_output_bytes)
        self.reset_caps()
        self._handed = {}             # answer -> True once the kernel handed it over for good
        self._last_handover = None    # no answer cell ran since this answer was handed over
        self._answers = record.make_answers(self.log)
        self._parts = part_of_cells(nb)
        self._setup = set(preflight.setup_cells(nb))  # the instructor's cells before any student code
        notes = record.notes
        inputs = record.fresh = fresh.draw(fresh.seed_for(course["root"], course["assignment"], course["student"]))
        with contextlib.ExitStack() as stack:
            with self.phases.timed("prepare"):
                name = resources["metadata"].get("name") or "notebook"
                space = workspace.prepare(stack, nb, name, folder, course,
                                          preflight.kernel_python(self._kernel_name(nb)),
                                          [nb.cells[i].source for i in self._setup], notes, self.log)
                self.slot, self._scratch = space.slot, space.scratch
                if space.kernel_manager_class:
                    self.kernel_manager_class = space.kernel_manager_class
                probes = [ProbeRun(nb, inputs, self.slot, self.probe_timeout, self.log, isolated).start()
                          for isolated in (None, *tasks.ISOLATED)]
                self._evaluator = evaluator = measurement.Evaluator(self.slot, self.log).start(record.budget, inputs)
                stack.callback(evaluator.close)
            self._deadline = time.monotonic() + self.notebook_timeout
            self._kernel_wait = time.monotonic()
            resources["metadata"]["path"] = str(space.scratch)
            try:
                nb, resources = super().preprocess(nb, resources, km)
            finally:
                resources["metadata"]["path"] = str(folder)
                with self.phases.timed("probe"):
                    for probe in probes:
                        note = probe.finish(self._answers)
                        if note and note not in notes:
                            notes.append(note)
                refused = space.copy_back(folder)
                if refused:
                    notes.append(f"Not kept from your notebook's folder: {', '.join(refused)}.")
            with self.phases.timed("measure"):
                paths = measurement.model_paths(self._answers)
                measured = measurement.check_files(paths)
                evaluator.measure(paths, measured, measurement.measure_asks(paths), self.measure_timeout)
        record.models, record.fault, record.not_run = measured, self.faults.fault, self.faults.not_run
        return nb, resources

    def _untouched(self, resources, folder, checked):
        """The release, untouched: its grades are known (0 on every test cell, ``tasks.untouched``),
        so no kernel, probe or measurement starts. ``ScoreOutside`` writes the verdicts."""
        self.phases.add("untouched release: nothing run", checked)
        self.log.info("%s is the release untouched: every test scores 0, nothing is run", folder)
        self.record.untouched = True
        return resources

    def _kernel_name(self, nb):
        return self.kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"

    @staticmethod
    def _student_folder(resources, course):
        """The folder nbgrader filled for this student, checked: never the course root or anything else."""
        given = resources.get("metadata", {}).get("path") or ""
        expected = Path(course["autograded"]).resolve()
        if not given or Path(given).resolve() != expected:
            raise GraderError(f"the notebook's folder is {given!r}, not this submission's autograded folder "
                              f"{expected}; refusing to give the kernel anything else.")
        return expected

    # ------------------------------------------------------------ one cell
    def preprocess_cell(self, cell, resources, index):
        if self._kernel_wait is not None:
            self.phases.add("kernel start", self._kernel_wait)
            self._kernel_wait = None
        started = time.monotonic()
        cell, resources = self._run_cell(cell, resources, index)
        self.phases.add(self._parts[index], started)
        if index == len(self.nb.cells) - 1:
            self._fill_gaps()
        return cell, resources

    def _run_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if tasks.grade_id(cell) == tasks.MEASURE_AHEAD_CELL:
            self._evaluator.hand_inputs()
        where = tasks.graded_id(cell) or f"cell {index}"
        remaining = self._deadline - time.monotonic()
        if not self.faults.fault and remaining <= 0:
            self.faults.stop("notebook_budget", where)
        if self.faults.fault:
            self.faults.skip(cell)
            return cell, resources
        grade = tasks.graded_id(cell)
        if not grade:
            self._last_handover = None  # the kernel's state may change: hand over again after this
        source = cell.source
        # Hidden tests are judged outside the kernel; the kernel never sees their code.
        cell.source = workspace.without_hidden(source) if grade else source
        budget_bound = remaining < self.timeout_per_cell
        self.timeout = int(max(1, min(self.timeout_per_cell, remaining)))
        self._cell_timed_out = False
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.faults.kernel_died(cell, where, index)
        except CellTimeoutError as error:
            self._stop_kernel()
            # A cell that ran out of time and ignored the interrupt ends in an IOPub timeout too.
            self.faults.timed_out(cell, where, output_lost="IOPub" in str(error) and not self._cell_timed_out,
                                  budget_bound=budget_bound, seconds=self.timeout)
        finally:
            cell.source = source
        self.faults.interrupted(cell, where, budget_bound=budget_bound, seconds=self.timeout)
        if index in self._setup:
            self._setup_failed(cell, tasks.grade_id(cell) or where, where)
        if grade:
            for output in cell.outputs:
                # A warning from the student's code is not a failed test; nbgrader would score it 0.
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
            answer = tasks.TASKS[grade].answer if grade in tasks.TASKS else None
            if not self.faults.fault and answer in tasks.KERNEL_ANSWERS:
                self._handover(answer)
        return cell, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        self._cell_timed_out = True   # the cell ran out of time: what follows is a timeout, whatever nbclient says
        return await super()._async_handle_timeout(timeout, cell)

    def _setup_failed(self, cell, name, where):
        """A locked setup cell that failed before any student code ran: the grader's fault, so
        the submission is not graded (nbgrader records it as failed), never charged to the student."""
        errors = [o for o in cell.outputs if o.output_type == "error"]
        fault = self.faults.fault
        if errors or (fault and fault["cell"] == where):
            reason = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else fault["message"]
            raise GraderError(f"grader error, not the student's: the instructor's locked setup cell {name!r} "
                              f"failed before any of the student's code ran ({reason}). Fix the grading "
                              "environment and grade this submission again.")

    def _fill_gaps(self):
        """Ask again for answers no graded cell could give, e.g. one moved above the code it tests."""
        for answer in tasks.KERNEL_ANSWERS:
            if not self.faults.fault and not self._handed.get(answer) and time.monotonic() < self._deadline:
                self._last_handover = None
                self._handover(answer)

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

    # ------------------------------------------------------------ handing answers over
    def _handover(self, answer):
        if self._last_handover == answer:
            return  # the cell before asked for the same answer, and no other cell ran since
        self._last_handover = answer
        started = time.monotonic()
        inbox = handover.Inbox(self._scratch, self.slot, self._answers, self.log)
        try:
            msg_id = self.kc.execute(handover.code(answer, inbox.folder), silent=True, store_history=False,
                                     allow_stdin=False)
            reply = self._run(self._wait(msg_id))
        except Exception as err:  # noqa: BLE001 - a broken kernel here is the student's fault
            reply = None
            self.log.warning("handing over %s failed: %s", answer, err)
        if reply is None:
            self.faults.stop("kernel_silent", answer)
            self._stop_kernel()
        else:
            self._handed[answer] = inbox.take(answer)
        self.phases.add("handover", started)

    async def _wait(self, msg_id):
        import asyncio

        # Bounded by the notebook's budget too: a kernel that answers slowly spends its own time.
        deadline = min(time.monotonic() + self.handover_timeout, max(self._deadline, time.monotonic() + 10))
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

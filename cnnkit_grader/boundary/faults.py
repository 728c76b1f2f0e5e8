"""The fault policy of a grading run: what stops a notebook, what the cell that stopped it
says, and what every graded cell after it says.

The grading run (``plugins/execute.py``) reports each event here as it happens: a kernel that
died, a cell past its time limit, an output that stopped reaching the grader, a spent notebook
budget, a kernel that would not hand its answers over. The first fault stops the notebook:
each later graded cell gets "Not run: <why>" and is listed in ``not_run``. The grading record
keeps ``fault`` and ``not_run``, and ``ScoreOutside`` charges those cells.

Every message a fault writes is here, once.
"""

from cnnkit_grader.boundary.kernel import MAX_MESSAGE_MB
from cnnkit_grader.boundary.outputs import error_output
from cnnkit_grader.judge import tasks

KEPT = "Results of earlier cells are kept; later cells were not run."
# What stopped a notebook, as each later graded cell says it ("Not run: ...") and the record keeps it.
FAULTS = {
    "notebook_budget": "the notebook ran past its time budget of {budget} s, so later cells were not run",
    "cell_timeout": "an earlier cell ran past the time limit and would not stop",
    "output_lost": ("an earlier cell's output stopped reaching the grader (an output message larger than "
                    f"{MAX_MESSAGE_MB} MB), so the kernel was stopped"),
    "kernel_died": ("the kernel died in code cell {cell} (os._exit, a crash, or running out of memory), "
                    "so later cells could not run"),
    "kernel_silent": "the kernel stopped answering after a test cell",
}


class Faults:
    """The faults of one notebook's run: the first one that stopped it, and the graded cells left unrun."""

    def __init__(self, notebook_timeout, cell_output_bytes):
        self.notebook_timeout = notebook_timeout
        self.cell_output_bytes = cell_output_bytes
        self.fault = None      # {"kind", "message", "cell"}: what stopped the notebook
        self.not_run = []      # grade_ids of graded cells that never ran because of it

    def stop(self, kind, where, **details):
        """Record what stopped the notebook; ``where`` is the graded cell's id, or "cell N"."""
        self.fault = {"kind": kind, "message": FAULTS[kind].format(budget=self.notebook_timeout, **details),
                      "cell": where}

    def skip(self, cell):
        """A cell after the fault: a graded one says why it did not run; any other keeps no output."""
        graded = tasks.graded_id(cell)
        cell.outputs = [error_output("NotRun", f"Not run: {self.fault['message']}")] if graded else []
        self._not_run_here(cell)

    def kernel_died(self, cell, where, index):
        """The kernel died during this cell (os._exit, a crash, the memory limit)."""
        self.stop("kernel_died", where, cell=cell.get("execution_count") or index)
        cell.outputs.append(error_output("KernelDied", "Your kernel died while running this cell "
                                         "(os._exit, a crash, or running out of memory). " + KEPT))

    def timed_out(self, cell, where, *, output_lost, budget_bound, seconds):
        """The cell did not end: it ignored the interrupt, or its output stopped arriving. The
        kernel has been stopped."""
        if output_lost:
            # The cell finished in time and its output did not arrive: a message over the frame
            # limit (boundary/kernel.py) closed the grader's output channel for good.
            self.stop("output_lost", where)
            cell.outputs.append(error_output("OutputTooLarge", (
                f"This cell's output stopped reaching the grader: one output message was larger than "
                f"{MAX_MESSAGE_MB} MB, more than the grader accepts, so the kernel was stopped. Print "
                f"less: a cell keeps {self.cell_output_bytes:,} bytes of output. " + KEPT)))
        else:
            self.stop("notebook_budget" if budget_bound else "cell_timeout", where)
            cell.outputs.append(error_output("CellTimeout", f"This cell ran for more than {seconds} s "
                                             "and ignored the interrupt, so the kernel was stopped. " + KEPT))
            if budget_bound:
                # As when the interrupt stops it (``interrupted``): a graded cell the notebook's
                # budget cut short did not run, whether or not the kernel then answered in time.
                self._not_run_here(cell)

    def interrupted(self, cell, where, *, budget_bound, seconds):
        """The cell ran out of time and the interrupt stopped it: nbclient's own error output is
        replaced by the grader's. Past the notebook's budget, that stops the notebook too."""
        if not any(o.output_type == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            return
        cell.outputs = [o for o in cell.outputs if o.get("ename") != "CellTimeoutError"]
        if budget_bound:
            self.stop("notebook_budget", where)
            cell.outputs.append(error_output("NotebookBudget", f"The notebook ran past its time budget of "
                                             f"{self.notebook_timeout} s during this cell, which was "
                                             "interrupted. Later cells were not run."))
            self._not_run_here(cell)
        else:
            cell.outputs.append(error_output("CellTimeout", f"This cell ran for more than {seconds} s "
                                             "and was interrupted."))

    def _not_run_here(self, cell):
        """List a graded cell as kept from running by the fault (ScoreOutside then scores it 0)."""
        grade = tasks.graded_id(cell)
        if grade:
            self.not_run.append(grade)

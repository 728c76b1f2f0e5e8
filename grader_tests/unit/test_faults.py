"""The fault policy on its own: the first fault stops the notebook, and each later graded cell
says why it did not run and is charged as not run; nothing else is."""

from nbformat.v4 import new_code_cell, new_output

from cnnkit_grader.boundary.faults import Faults


def graded(grade_id, source="pass"):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": 1}})


def errors(cell):
    return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]


def test_a_dead_kernel_stops_the_notebook_and_each_later_graded_cell_says_why():
    faults = Faults(notebook_timeout=1200, cell_output_bytes=100_000)
    died, later, plain = new_code_cell("import os; os._exit(1)"), graded("test_save_best"), new_code_cell("x = 1")
    died.execution_count = 7
    plain.outputs = [new_output("stream", name="stdout", text="stale")]
    faults.kernel_died(died, "cell 7", 7)
    faults.skip(later)
    faults.skip(plain)
    assert faults.fault["kind"] == "kernel_died" and faults.fault["cell"] == "cell 7"
    assert errors(died)[0][0] == "KernelDied"
    assert errors(later) == [("NotRun", "Not run: the kernel died in code cell 7 (os._exit, a crash, or "
                                        "running out of memory), so later cells could not run")]
    assert plain.outputs == [] and faults.not_run == ["test_save_best"]


def test_a_cell_that_ignores_the_interrupt_is_a_cell_timeout_or_the_notebooks_budget():
    for budget_bound, kind in ((False, "cell_timeout"), (True, "notebook_budget")):
        faults, cell = Faults(900, 100_000), graded("test_save_form", "while True: pass")
        faults.timed_out(cell, "test_save_form", output_lost=False, budget_bound=budget_bound, seconds=150)
        assert faults.fault["kind"] == kind
        assert errors(cell) == [("CellTimeout", "This cell ran for more than 150 s and ignored the interrupt, "
                                 "so the kernel was stopped. Results of earlier cells are kept; later cells "
                                 "were not run.")]
        # Cut short by the notebook's budget, the cell did not run, as when the interrupt stops
        # it; a cell that alone ran past its own limit did run (the stall attack's dry run met
        # the first case: the kernel answered the interrupt too late on a loaded machine).
        assert faults.not_run == (["test_save_form"] if budget_bound else [])
    assert "900 s" in faults.fault["message"]


def test_an_output_that_stopped_arriving_says_how_much_a_cell_keeps():
    faults, cell = Faults(1200, 100_000), new_code_cell("print('x' * 10**9)")
    faults.timed_out(cell, "test_plot_form", output_lost=True, budget_bound=False, seconds=150)
    assert faults.fault["kind"] == "output_lost"
    assert errors(cell)[0][0] == "OutputTooLarge" and "a cell keeps 100,000 bytes" in errors(cell)[0][1]


def test_an_interrupted_cell_loses_nbclients_error_and_past_the_budget_stops_the_notebook():
    timeout = new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
    kept = new_output("stream", name="stdout", text="epoch 1\n")
    alone, bound = graded("test_train_history"), graded("test_train_history")
    alone.outputs, bound.outputs = [kept, timeout], [kept, timeout]
    faults = Faults(1200, 100_000)
    faults.interrupted(alone, "test_train_history", budget_bound=False, seconds=150)
    assert errors(alone) == [("CellTimeout", "This cell ran for more than 150 s and was interrupted.")]
    assert faults.fault is None and faults.not_run == []
    faults.interrupted(bound, "test_train_history", budget_bound=True, seconds=150)
    assert errors(bound)[0][0] == "NotebookBudget" and bound.outputs[0] == kept
    assert faults.fault["kind"] == "notebook_budget" and faults.not_run == ["test_train_history"]


def test_a_cell_that_ended_in_time_is_left_alone():
    faults, cell = Faults(1200, 100_000), graded("test_build_form")
    cell.outputs = [new_output("error", ename="AssertionError", evalue="wrong", traceback=[])]
    faults.interrupted(cell, "test_build_form", budget_bound=True, seconds=150)
    assert errors(cell) == [("AssertionError", "wrong")] and faults.fault is None

"""The grader keeps a bounded, well-formed record of what a real kernel sends, whatever it sends.

A real IPython kernel (no sandbox, no training) runs the hostile cells through the same output
handling the grader's Execute uses (``CappedOutputs``); sizes are measured on what is kept.
"""

import json

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from traitlets import Integer

from cnnkit_grader.boundary.outputs import CappedOutputs

CELL, NOTEBOOK = 100_000, 1_000_000
MB = "'x' * 2**20"

# Each sends far more than the caps allow, by a route that is not a plain print.
FLOODS = {
    "update_display_data": f"h = display('small', display_id=True)\nfor _ in range(20): h.update({MB})",
    "display with the same id": f"for _ in range(20): display({MB}, display_id='same')",
    "update of an earlier cell": f"for _ in range(20): earlier.update({MB})",
    "execute_result": MB,
    "many errors": ("from IPython import get_ipython\nk = get_ipython().kernel\n"
                    "for _ in range(40): k.session.send(k.iopub_socket, 'error', "
                    "{'ename': 'E', 'evalue': 'x' * 10**5, 'traceback': ['y' * 10**5] * 100}, "
                    "parent=k.get_parent('shell'), ident=b'error')"),
    "clear_output games": (f"from IPython.display import clear_output\n"
                           f"for _ in range(20):\n    print({MB})\n    clear_output(wait=True)"),
    "metadata": "display({'text/plain': 'x'}, raw=True, metadata={'m': 'x' * 2**20})",
    "widgets": "import ipywidgets as w\nfor _ in range(5): display(w.Textarea(value='x' * 2**20))",
}


class Capped(CappedOutputs):
    cell_output_bytes = Integer(CELL)
    notebook_output_bytes = Integer(NOTEBOOK)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_caps()


def run(*sources, **kw):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    Capped(nb, kernel_name="python3", timeout=60, allow_errors=True, **kw).execute()
    return nb


def kept(cell):
    return len(json.dumps(cell.outputs))


@pytest.mark.parametrize("name", FLOODS)
def test_every_route_keeps_within_the_cell_cap(name):
    nb = run("earlier = display('x', display_id=True)", FLOODS[name])
    assert kept(nb.cells[1]) < CELL + 130_000   # the cap, and one error always kept
    assert kept(nb.cells[0]) < CELL + 1_000
    assert len(json.dumps(nb)) < NOTEBOOK


def test_the_notebook_cap_holds_over_many_cells():
    nb = run(*[f"for _ in range(5): display('x' * 90_000, display_id='d{i}')" for i in range(30)])
    assert len(json.dumps(nb)) < NOTEBOOK + 30 * 1_000
    assert "output cut" in json.dumps(nb.cells[-1].outputs)


def test_a_progress_bar_that_redraws_itself_is_never_cut():
    nb = run("from IPython.display import clear_output\nfor i in range(300):\n"
             "    print('epoch', i, 'x' * 5000)\n    clear_output(wait=True)\nprint('done')")
    text = json.dumps(nb.cells[0].outputs)
    assert "done" in text and "output cut" not in text


def test_a_malformed_output_is_a_note_in_its_own_cell_and_the_rest_runs():
    nb = run("print('before')",
             "display({'text/plain': 5}, raw=True)\nprint('same cell goes on')",
             "h = display('ok', display_id=True)\nh.update({'text/plain': ['not', 5]}, raw=True)",
             "from IPython import get_ipython\nk = get_ipython().kernel\n"
             "k.session.send(k.iopub_socket, 'execute_result', {'execution_count': 'x', "
             "'data': {'text/plain': 'odd count'}, 'metadata': {}}, parent=k.get_parent('shell'))",
             "print('after')")
    assert "before" in nb.cells[0].outputs[0].text
    cell = json.dumps(nb.cells[1].outputs)
    assert "not a well-formed notebook output" in cell and "same cell goes on" in cell
    assert nb.cells[2].outputs[0].data["text/plain"] == "'ok'"   # the malformed update is ignored
    assert nb.cells[3].outputs[0].data["text/plain"] == "odd count" and nb.cells[3].execution_count != "x"
    assert nb.cells[4].outputs[0].text == "after\n"
    nbformat.validate(nb)

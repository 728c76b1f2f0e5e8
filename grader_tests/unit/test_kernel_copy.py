"""The notebook file the kernel can read holds none of the hidden tests nbgrader restored."""

import nbformat

from cnnkit_grader.boundary.workspace import kernel_copy
from cnnkit_tools import submissions

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_kernels_copy_of_the_source_notebook_has_no_hidden_test(tmp_path):
    source, _ = submissions.source_and_release(ROOT)
    nb = nbformat.read(source, as_version=4)
    assert "BEGIN HIDDEN TESTS" in source.read_text()   # what nbgrader's restored notebook holds
    kernel_copy(nb, tmp_path / "copy.ipynb")
    text = (tmp_path / "copy.ipynb").read_text()
    assert "HIDDEN TESTS" not in text and 'check("test_' not in text and "selfcheck" not in text
    copy = nbformat.read(tmp_path / "copy.ipynb", as_version=4)
    assert [c.cell_type for c in copy.cells] == [c.cell_type for c in nb.cells]
    assert "BEGIN HIDDEN TESTS" in "".join(c.source for c in nb.cells)   # the grader's own is untouched

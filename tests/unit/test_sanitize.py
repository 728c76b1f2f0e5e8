"""No script, event handler or JavaScript output of a student's reaches a rendered page.

The preprocessor is registered the way nbgrader registers it (by class, on an exporter), so a
preprocessor that would not run there does not run here either.
"""

from nbconvert import HTMLExporter, NotebookExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from cnnkit_grader.sanitize import SanitizeOutputs
from helpers import active_content

MARK = "cnnkit-xss"


def _hostile_notebook():
    outputs = [
        new_output("display_data", data={"text/html": f"<script>document.title='{MARK}1'</script>",
                                         "text/plain": "<HTML object>"}),
        new_output("display_data", data={"text/html": f'<img src="x" onerror="document.title=\'{MARK}2\'">'}),
        new_output("display_data", data={"text/html": f'<a href="javascript:alert(\'{MARK}3\')">x</a><b>bold</b>'}),
        new_output("display_data", data={"application/javascript": f"document.title='{MARK}4'",
                                         "text/plain": "<Javascript object>"}),
        new_output("display_data", data={"image/svg+xml": f"<svg><script>alert('{MARK}5')</script></svg>"}),
        new_output("execute_result", data={"text/markdown": f"<img src=x onerror=alert('{MARK}6')>"},
                   execution_count=1),
        new_output("display_data", data={"image/png": "AAAA", "text/plain": "x"},
                   metadata={"image/png": {"width": f"1 onerror=alert('{MARK}9')//"}}),
    ]
    nb = new_notebook(cells=[
        new_code_cell("display(...)", outputs=outputs),
        new_markdown_cell(f"An answer <script>alert('{MARK}7')</script> "
                          f"<img src=x onerror=\"alert('{MARK}8')\"> **bold**"),
        new_markdown_cell(f"[click me](javascript:alert('{MARK}10'))"),
        new_raw_cell(f"<script>alert('{MARK}11')</script>", metadata={"format": "text/html"}),
        new_markdown_cell("A plain answer: the loss falls, **quickly** at first, then `slowly`."),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def _sanitised():
    exporter = NotebookExporter()
    exporter.register_preprocessor(SanitizeOutputs)  # as nbgrader does: by class, enabled by its default
    nb, _ = exporter.from_notebook_node(_hostile_notebook())
    import nbformat
    return nbformat.reads(nb, as_version=4)


def test_unsanitised_the_page_would_run_the_students_code():
    html, _ = HTMLExporter().from_notebook_node(_hostile_notebook())
    assert len(active_content(html)) >= 5  # the test can see an attack when there is one


def test_sanitised_nothing_runs_and_the_text_stays_readable():
    nb = _sanitised()
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert active_content(html) == []
    kinds = [key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})]
    assert "application/javascript" not in kinds and "image/svg+xml" not in kinds
    assert "&lt;HTML object&gt;" in html and "<b>bold</b>" in html   # plain text kept, harmless markup kept
    assert "widgets" not in nb.metadata
    assert "&lt;script&gt;" in nb.cells[1].source               # the answer's script is shown as text
    assert nb.cells[4].source == "A plain answer: the loss falls, **quickly** at first, then `slowly`."

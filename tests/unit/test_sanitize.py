"""No script, event handler or JavaScript output of a student's reaches a rendered page."""

from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnkit_grader.sanitize import SanitizeOutputs
from helpers import active_content as _active

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
    ]
    nb = new_notebook(cells=[new_code_cell("display(...)", outputs=outputs),
                             new_markdown_cell(f"An answer <script>alert('{MARK}7')</script> "
                                               f"<img src=x onerror=\"alert('{MARK}8')\"> **bold**")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_unsanitised_the_page_would_run_the_students_code():
    html, _ = HTMLExporter().from_notebook_node(_hostile_notebook())
    assert len(_active(html)) >= 4  # the test can see an attack when there is one


def test_sanitised_nothing_runs_and_the_text_stays_readable():
    nb, _ = SanitizeOutputs().preprocess(_hostile_notebook(), {})
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert _active(html) == []
    kinds = [key for cell in nb.cells for out in cell.get("outputs", []) for key in out.get("data", {})]
    assert "application/javascript" not in kinds and "image/svg+xml" not in kinds
    assert "&lt;HTML object&gt;" in html and "<b>bold</b>" in html   # plain text kept, harmless markup kept
    assert "widgets" not in nb.metadata
    assert "&lt;script&gt;" in nb.cells[1].source               # the answer's script is shown as text

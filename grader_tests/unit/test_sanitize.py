"""No script, event handler or JavaScript output of a student's reaches a rendered page.

The preprocessor is registered the way nbgrader registers it (by class, on an exporter), so a
preprocessor that would not run there does not run here either.
"""

import pytest
from nbconvert import HTMLExporter, NotebookExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from cnnkit_grader.plugins.sanitize import SanitizeOutputs
from helpers import active_content, active_markup

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


DOUBLE_RENDER = "- item\n\n  ```\n  a\n\n  [a](javascript:alert(1))\n  ```\n\n<b onclick=x>c</b>"
# Markdown that renders harmless once but becomes a link or markup when its rendering is read
# as markdown again (the formgrader and the feedback render a markdown cell's source), and the
# spellings bleach must see through. Each is also a file name the grader's notes could quote.
PAYLOADS = [
    "[a](javascript:alert(1))", "<javascript:alert(1)>", "[a][r]\n\n[r]: javascript:alert(1)",
    "[a](jav&#x61;script:alert(1))", "[a](JaVaScRiPt:alert(1))", "[a](vbscript:msgbox(1))",
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "![i](javascript:alert(1))",
    "\\[a\\](javascript:alert(1))", "&#91;a&#93;(javascript:alert(1))", "`[a](javascript:alert(1))`",
    "&lt;javascript:alert(1)&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&amp;lt;script&amp;gt;alert(1)",
    "<p>[a](javascript:alert(1))</p>", "<div>\n\n[a](javascript:alert(1))\n\n</div>",
    '<a href="javascript:alert(1)">a</a>', "<svg onload=alert(1)>", "<iframe src=//x></iframe>",
    "<object data=x></object><embed src=x>", "<details open ontoggle=alert(1)>",
    "- Not kept from your notebook's folder: [a](javascript:alert(1)).keras, &#60;b&#62;.keras",
    # Clean HTML stored back as markdown: a code block in a list item renders as <ul>...<pre>,
    # an HTML block that ends at the code's blank line; the code after it is markdown again.
    DOUBLE_RENDER,
]
RENDERS = 3


def _renders(source, times=RENDERS):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    for _ in range(times):
        source = markdown2html_mistune(source)
        yield source


def _stored(source):
    nb = new_notebook(cells=[new_markdown_cell(source)])
    nb, _ = SanitizeOutputs().preprocess(nb, {})
    return nb.cells[0].source


def test_the_checker_sees_the_payloads_when_rendered_unsanitised():
    active = [p for p in PAYLOADS if any(active_markup(html) for html in _renders(p, 2))]
    assert len(active) >= 15


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitised_markdown_stays_inert_however_often_it_is_rendered(payload):
    for depth, html in enumerate(_renders(_stored(payload)), 1):
        assert active_markup(html) == [], f"render {depth} of {payload!r}"


def test_sanitised_markdown_renders_the_same_every_time_and_plain_prose_is_kept():
    stored = _stored("My answer: <b>loss</b> falls [see](https://keras.io), then *rises*.")
    first, second, third = _renders(stored)
    assert first.strip() == second.strip() == third.strip()
    assert '<a href="https://keras.io">see</a>' in first and "<b>loss</b>" in first
    assert _stored("The loss falls, **quickly**: then `slowly`.") == "The loss falls, **quickly**: then `slowly`."



@pytest.mark.parametrize("payload", PAYLOADS + ["# Part A\n\nThe [lesson](https://carpentries.org) & `fit`, <b>bold</b>."])
def test_sanitising_again_changes_nothing(payload):
    """Autograde cleans the notebook and feedback cleans it again: the second pass must not wrap
    the first's HTML block in another, which the page would show as a literal <div ...> line."""
    once = _stored(payload)
    assert _stored(once) == once
    page = HTMLExporter().from_notebook_node(new_notebook(cells=[new_markdown_cell(_stored(once))]))[0]
    assert '&lt;div class="cnnkit-sanitized"&gt;' not in page


@pytest.mark.parametrize("held", [f"<img src=x onerror=\"alert('{MARK}')\">", '<a href="java&#10;script:alert(1)">x</a>',
                                  "&#10;<script>alert(1)</script>", '<a href="javascript:alert(1)">x</a>'])
def test_a_forged_inert_block_is_still_cleaned(held):
    """A student who writes the inert wrapper themselves gets no pass for what it holds."""
    stored = _stored(f'<div class="cnnkit-sanitized">{held}</div>')
    for depth, html in enumerate(_renders(stored), 1):
        assert active_markup(html) == [], f"render {depth}"

@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_markdown_output_is_stored_as_cleaned_html(payload):
    nb = new_notebook(cells=[new_code_cell("x", outputs=[new_output("display_data", data={"text/markdown": payload})])])
    nb, _ = SanitizeOutputs().preprocess(nb, {})
    data = nb.cells[0].outputs[0].data
    assert "text/markdown" not in data
    assert active_markup(data["text/html"]) == []
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert active_markup(html) == active_markup(HTMLExporter().from_notebook_node(new_notebook())[0])

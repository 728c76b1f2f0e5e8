"""Outputs and markup cannot hurt the grader, the formgrader or the feedback (issue 14 C).

The submission in ``attacks.OUTPUT_ATTACKS`` is autograded by the real nbgrader under the smoke
budget, in a course of its own, and its feedback generated. Then the autograded notebook is
rendered as nbgrader's formgrader renders it (nbconvert's HTMLExporter with nbgrader's
``formgrade`` template) and, with the feedback page, opened in headless Chromium: what the
browser built must hold nothing active beyond what the same template puts on a clean notebook.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cnnkit_grader.judge.tasks import grade_id
from cnnkit_tools import course, submissions
from cnnkit_tools.lab import attacks

from courses import CELLS, RELEASE, SMOKE, autograded, make_course, shown, write_attacks

CHROMIUM = Path(os.environ.get("CNNKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
ATTACK = attacks.OUTPUT_ATTACKS[0]

# What a page can run or load, read from the DOM the browser built (entities decoded, case folded).
ACTIVE_DOM = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['iframe', 'object', 'embed', 'frame', 'base'].includes(tag)) found.push(tag);
    if (tag === 'svg' && el.querySelector('script, foreignObject, [href]')) found.push('active svg');
    for (const attr of el.attributes) {
      const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
      if (attr.name.toLowerCase().startsWith('on')) found.push(`${tag} ${attr.name}`);
      if (/^(javascript|vbscript|data):/.test(value) && !(tag === 'img' && value.startsWith('data:image/')))
        found.push(`${tag} ${attr.name}=${attr.value.slice(0, 60)}`);
    }
  }
  const scripts = [...document.scripts].map(s => s.src || s.textContent);
  return {found, scripts, title: document.title};
}"""


def formgrade_html(notebook):
    """The page nbgrader's formgrader serves for this notebook (its own exporter and template)."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": "a", "notebook_id": "n", "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": "s", "last_name": "", "first_name": "", "notebook_path": "n"}
    return exporter.from_filename(str(notebook), resources=resources)[0]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "hostile_outputs_course")
    write_attacks(directory, cifar_dir, [ATTACK]).close()
    # No cell of this one ignores an interrupt: the grader's own cell timeout, so a loaded machine
    # still runs every honest cell in time.
    course.autograde(directory, ATTACK.name, **dict(SMOKE, CNNKIT_CELL_TIMEOUT="600"))
    course.generate_feedback(directory, ATTACK.name)
    return directory


@pytest.fixture(scope="module")
def browser(playwright):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run grader_tests/install-browser.sh (Debian's chromium package)")
    profile = tempfile.mkdtemp(prefix="cnnkit-chromium-")
    context = playwright.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM),
                                                           headless=True, args=CHROMIUM_ARGS)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else route.abort())   # loopback pages only: the templates' CDN links go nowhere

    def load(html, folder):
        path = Path(folder) / "page.html"
        path.write_text(html)
        tab = context.new_page()
        tab.goto(path.as_uri(), wait_until="load")
        tab.wait_for_timeout(500)
        seen = tab.evaluate(ACTIVE_DOM)
        tab.close()
        return seen
    try:
        yield load
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def test_it_scores_what_honest_work_earns(graded):
    assert course.scores(graded, ATTACK.name) == {g: (p, p) for g, p in CELLS.items()}


def test_a_malformed_output_is_a_note_in_its_own_cell(graded):
    nb = autograded(graded, ATTACK.name)
    cell = next(c for c in nb.cells if grade_id(c) == "dropout")
    text = json.dumps(cell.outputs)
    assert "not a well-formed notebook output" in text and "after the malformed output" in text


def test_updates_of_a_display_are_capped(graded):
    notebook = course.autograded_notebook(graded, ATTACK.name)
    assert notebook.stat().st_size < 2_000_000
    nb = autograded(graded, ATTACK.name)
    cell = next(c for c in nb.cells if grade_id(c) == "dropout")
    assert len(json.dumps(cell.outputs)) < 110_000
    assert "output cut" in json.dumps(cell.outputs)


def test_the_kernel_never_holds_the_hidden_tests(graded):
    text = shown(graded, ATTACK.name)
    assert "hidden marker found: False" in text and "hidden check found: False" in text
    assert int(text.split("read ")[1].split(" characters")[0]) > 1000   # it did read its history


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_no_page_renders_anything_active(graded, browser, tmp_path, page):
    notebook = course.autograded_notebook(graded, ATTACK.name)
    html = formgrade_html(notebook) if page == "formgrader" else \
        course.feedback_html(graded, ATTACK.name).read_text()
    assert "cnnkit-xss" in html                      # the payloads are on the page, as text
    seen = browser(html, tmp_path)
    # Nothing active but the template's own: what the same template puts on a clean notebook.
    clean = browser(formgrade_html(RELEASE), tmp_path) if page == "formgrader" else {"found": [], "scripts": []}
    assert set(seen["found"]) <= set(clean["found"]), seen["found"]
    assert not [s for s in seen["scripts"] if "cnnkit" in s or "document.title" in s]
    if page == "formgrader":
        assert set(seen["scripts"]) <= set(clean["scripts"])
    assert "cnnkit-xss" not in seen["title"]

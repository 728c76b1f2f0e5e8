"""./kit demo ends with the instructor report; the report opens in headless Chromium.

The demo runs as ``./kit demo`` does (``cnnkit_tools.demo.main``) on a fresh course folder,
under the smoke budget: it releases, writes the three sample submissions (reference,
partly_wrong, untouched), autogrades them with nbgrader, and writes the report. Which cells
each sample must lose is known in advance (partly_wrong = the mse_loss and no_dropout
mutants), so the report's "what the class got wrong" counts are checked against it. The
statistics themselves are checked by hand in grader_tests/unit/test_report_gradebook.py.

Chromium is Debian's package (grader_tests/install-browser.sh installs it), driven by Playwright
for Python. The page is a local file and must fetch nothing.
"""

import contextlib
import io
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest

from cnnkit_tools import course, demo, submissions
from cnnkit_tools.lab import mutations

CHROMIUM = Path(os.environ.get("CNNKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STUDENTS = ["partly_wrong", "reference", "untouched"]


def graded_cells():
    """Autograded test cell -> points, in notebook order, from the release."""
    nb = submissions.read(submissions.source_and_release(course.ROOT)[1])
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"] for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
            and not cell.metadata.nbgrader.get("solution")}


CELLS = graded_cells()


def expected_failures():
    """cell -> how many samples must lose it: untouched loses every cell, partly_wrong its two mutants' cells."""
    lost = Counter({cell: 1 for cell in CELLS})
    lost.update(mutations.by_name("mse_loss").fails | mutations.by_name("no_dropout").fails)
    return lost


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, cifar_dir):
    """``./kit demo`` on a fresh course folder under the smoke budget: (folder, what it printed)."""
    folder = course.copy_course(tmp_path_factory.mktemp("demo_course"))
    printed = io.StringIO()
    # copy_course does not copy cnnkit_grader/ (yet), which nbgrader_config.py imports from the
    # course folder; without it nbgrader would fall back on its default preprocessors.
    path = os.pathsep.join(p for p in (str(course.ROOT), os.environ.get("PYTHONPATH")) if p)
    with mock.patch.dict(os.environ, {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "60",
                                      "MPLBACKEND": "Agg", "PYTHONPATH": path}), \
            contextlib.redirect_stdout(printed):
        demo.main(folder)
    return folder, printed.getvalue()


@pytest.fixture(scope="module")
def built(demo_run):
    folder, _ = demo_run
    return folder / "reports" / submissions.ASSIGNMENT / "index.html"


@pytest.fixture(scope="module")
def page(built, playwright):
    """The report open in headless Chromium; every request it makes is recorded."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run grader_tests/install-browser.sh (Debian's chromium package)")
    profile = tempfile.mkdtemp(prefix="cnnkit-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        tab.requests = []
        tab.on("request", lambda request: tab.requests.append(request.url))
        tab.goto(built.as_uri(), wait_until="load")
        yield tab
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def test_demo_ends_by_writing_the_report(demo_run, built):
    _, printed = demo_run
    assert f"report: {built}" in printed.splitlines()
    for name in ("index.html", "report.ipynb", "items.csv", "by_student_and_cell.csv"):
        assert (built.parent / name).stat().st_size > 0
    executed = submissions.read(built.parent / "report.ipynb")
    assert not [o for cell in executed.cells for o in cell.get("outputs", [])
                if o.get("name") == "stderr" or o.get("output_type") == "error"]


def rows(page, table):
    """The text of each cell of each body row of the table named ``table``."""
    return page.eval_on_selector_all(
        f'table[data-table="{table}"] tbody tr',
        "trs => trs.map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))")


def header(page, table):
    return page.eval_on_selector_all(f'table[data-table="{table}"] thead th',
                                     "ths => ths.map(th => th.innerText.trim())")


def test_every_plot_loads_and_nothing_is_fetched(page, built):
    plots = page.eval_on_selector_all(
        "figure.cnnkit-plot", "fs => fs.map(f => [f.dataset.plot, f.querySelector('img').complete, "
                              "f.querySelector('img').naturalWidth])")
    assert {name for name, _, _ in plots} >= {"scores", "items", "heldout"}
    assert all(complete and width > 300 for _, complete, width in plots), plots
    for name, _, _ in plots:  # each plot is also a PNG beside the page
        assert (built.parent / f"{name}.png").stat().st_size > 10_000
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    screenshot = built.parent / "screenshot.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")


def test_items_table_has_a_row_per_graded_cell_in_notebook_order(page):
    names = [row[1] for row in rows(page, "items")]
    autograded = [name for name in names if name in CELLS]
    assert autograded == list(CELLS)
    assert set(names) - set(CELLS) == {"answer_training_curve", "answer_dropout_rate"}  # the written answers
    columns = header(page, "items")
    assert columns[:4] == ["part", "cell", "kind", "points"]
    assert {"difficulty", "discrimination", "full marks", "flags"} <= set(columns)


def test_what_the_class_got_wrong_counts_every_failure(page):
    tables = page.eval_on_selector_all('table[data-table^="failures-"]', "ts => ts.map(t => t.dataset.table)")
    counted = Counter()
    found = []
    for table in tables:
        for row in rows(page, table):
            cell, message, students, who = row[0], row[-3], row[-2], row[-1]
            count, of = students.split(" (")[0].split(" of ")
            assert int(of) == len(STUDENTS)
            assert len(who.split(", ")) == int(count)
            counted[cell] += int(count)
            found.append((cell, message, who))
    assert counted == expected_failures()
    loss = {who: message for cell, message, who in found if cell == "test_compile_loss"}
    assert "the loss is MeanSquaredError" in loss["partly_wrong"]
    assert "NotImplementedError" in loss["untouched"]


def test_difficulty_and_full_marks_match_what_each_sample_must_lose(page):
    items = {row[1]: dict(zip(header(page, "items"), row)) for row in rows(page, "items")}
    lost = expected_failures()
    for cell in CELLS:
        share = 1 - lost[cell] / len(STUDENTS)   # all or nothing: difficulty = share with full marks
        assert items[cell]["difficulty"] == f"{share:.2f}"
        assert items[cell]["full marks"] == f"{share:.0%}"
        assert items[cell]["n"] == str(len(STUDENTS))


def test_students_outcomes_and_heldout_accuracy(page):
    students = {row[0]: row for row in rows(page, "students")}
    assert sorted(students) == STUDENTS
    assert students["reference"][2] == str(sum(CELLS.values()))
    assert students["reference"][3] == "missing"            # written answers are not graded yet
    assert students["untouched"][2:5] == ["0", "0", "0"]     # an untouched answer scores 0 at once
    lost = sum(CELLS[c] for c in expected_failures() if expected_failures()[c] == 2)
    assert students["partly_wrong"][2] == str(sum(CELLS.values()) - lost)
    assert students["reference"][5].endswith("%")
    assert (students["partly_wrong"][5], students["untouched"][5]) == ("not scored", "no accuracy")
    outcomes = {row[0]: row[1:] for row in rows(page, "outcomes")}
    assert outcomes == {"graded": ["3", "partly_wrong, reference, untouched"]}
    heldout = {row[0]: row for row in rows(page, "heldout-status")}
    assert heldout["passed"][1:3] == ["1", "reference"]

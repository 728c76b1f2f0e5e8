"""The committed student version and samples, read as text: in sync with the source, leak-free,
and with headings whose points add up. No kernel runs here; the slow tier
(grader_tests/pipeline/test_release.py) regenerates the release and runs the notebooks."""

import re
from pathlib import Path

from cnnkit_grader.judge import tasks
from cnnkit_tools import samples, submissions

ROOT = Path(__file__).resolve().parents[2]
SOURCE, RELEASE = submissions.source_and_release(ROOT)
HEADING = re.compile(r"^## (Part [A-Z]|Question): .*\((\d+) points?\)\s*$", re.MULTILINE)


def comparable(nb):
    return [(cell.cell_type, cell.source, cell.metadata.get("nbgrader")) for cell in nb.cells]


def test_sample_submissions_match_the_source():
    for student, expected in samples.samples(ROOT).items():
        committed = ROOT / "submitted" / student / submissions.ASSIGNMENT / submissions.NOTEBOOK
        assert committed.is_file(), f"missing sample {committed}: run ./kit release"
        assert comparable(submissions.read(committed)) == comparable(expected), (
            f"submitted/{student} is out of date: run ./kit release and commit the result")


def _regions(text, begin, end):
    return re.findall(rf"### {begin}\n(.*?)### {end}", text, re.DOTALL)


def test_release_holds_no_solution_mark_scheme_or_hidden_test():
    release_text = "\n".join(cell.source for cell in submissions.read(RELEASE).cells)
    for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "cnnkit_grader", "Mark scheme"):
        assert marker not in release_text
    secret_lines = set()
    for cell in submissions.read(SOURCE).cells:
        for region in (_regions(cell.source, "BEGIN SOLUTION", "END SOLUTION")
                       + _regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
            secret_lines |= {line.strip() for line in region.splitlines() if len(line.strip()) > 25}
    assert len(secret_lines) > 20
    leaked = sorted(line for line in secret_lines if line in release_text)
    assert not leaked, f"solution or hidden-test lines in the release: {leaked}"


def test_every_heading_states_the_points_of_its_cells():
    nb = submissions.read(SOURCE)
    sections, current = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            match = HEADING.match(cell.source)
            current = (match.group(1), int(match.group(2))) if match else None
            if current:
                sections[current] = 0
        points = cell.metadata.get("nbgrader", {}).get("points", 0)
        if points:
            assert current, f"cell {cell.metadata.nbgrader['grade_id']} has points but no graded heading"
            sections[current] += points
    assert sections, "no graded headings found"
    for (part, stated), total in sections.items():
        assert stated == total, f"{part} says {stated} points, its cells add up to {total}"
    assert sum(cell.metadata.nbgrader["points"] for cell in nb.cells if tasks.graded_id(cell)) == 27

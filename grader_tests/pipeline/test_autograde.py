"""Real nbgrader autograde runs: what each kind of submission scores, and what students see.

Every submission here is graded under the smoke budget in one ``nbgrader autograde`` call
(see conftest.smoke_course).
"""

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from nbgrader.api import Gradebook

from cnnkit_grader.judge import tasks
from cnnkit_tools import course, submissions
from cnnkit_tools.lab import mutation_report, mutations, variants

from courses import RELEASE, SMOKE, graded_cells, make_course, touched_release, verdicts
from helpers import feedback_digest, grading_record_digest

CELLS = graded_cells(submissions.read(RELEASE))
NOTEBOOK_NAME = RELEASE.stem
CELLS_ORDER = list(CELLS)
TOTAL = sum(CELLS.values())


def test_reference_gets_full_marks(smoke_course):
    assert course.scores(smoke_course, "reference") == {g: (p, p) for g, p in CELLS.items()}


def test_untouched_release_gets_nothing(smoke_course):
    got = course.scores(smoke_course, "untouched")
    assert set(got) == set(CELLS) and sum(score for score, _ in got.values()) == 0


@pytest.fixture(scope="module")
def untouched_course(tmp_path_factory):
    """A course of its own holding the untouched release and the release with one character edited,
    graded in one ``nbgrader autograde`` (not the smoke course: it needs no training)."""
    directory = make_course(tmp_path_factory, "untouched_course")
    submissions.write(submissions.read(RELEASE), directory, "untouched")
    submissions.write(touched_release(), directory, "one_character")
    course.autograde(directory, **SMOKE)
    course.generate_feedback(directory, "untouched")
    return directory


def test_untouched_release_runs_nothing_and_says_so(untouched_course):
    got = course.scores(untouched_course, "untouched")
    assert got == {g: (0.0, p) for g, p in CELLS.items()}
    message = tasks.UNTOUCHED
    assert {v["rule"] for v in verdicts(untouched_course, "untouched").values()} == {"any.untouched"}
    assert {v["message"] for v in verdicts(untouched_course, "untouched").values()} == {message}
    nb = submissions.read(course.autograded_notebook(untouched_course, "untouched"))
    tests = [c for c in nb.cells if tasks.grade_id(c) in CELLS]
    assert all(c.outputs[-1].output_type == "error" and c.outputs[-1].evalue == message for c in tests)
    phases = [p["phase"] for p in nb.metadata["cnnkit"]["phases"]]
    assert phases == ["untouched release: nothing run", "judge", "write grades"]
    assert nb.metadata["cnnkit"]["outcome"] == "graded"
    html = course.feedback_html(untouched_course, "untouched").read_text()
    assert "still exactly as released" in html and "Fill in the answer cells" in html
    # The written answers are nbgrader's as usual: graded as for a submission that ran in full.
    assert len(written(untouched_course, "untouched")) == 2
    assert written(untouched_course, "untouched") == written(untouched_course, "one_character")


def written(directory, student):
    """grade_id -> (auto score, manual score, needs manual grading, points) of the written answers."""
    with Gradebook(course.db_url(directory)) as gradebook:
        graded = gradebook.find_submission_notebook(NOTEBOOK_NAME, submissions.ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score)
                for g in graded.grades if g.cell_type == "markdown"}


def test_one_character_from_the_release_is_graded_in_full(untouched_course):
    nb = submissions.read(course.autograded_notebook(untouched_course, "one_character"))
    phases = [p["phase"] for p in nb.metadata["cnnkit"]["phases"]]
    assert {"kernel start", "probe", "measure"} <= set(phases) and "untouched release: nothing run" not in phases
    assert sum(score for score, _ in course.scores(untouched_course, "one_character").values()) == 0
    assert "any.untouched" not in {v["rule"] for v in verdicts(untouched_course, "one_character").values()}


@pytest.mark.parametrize("variant", variants.CI_VARIANTS, ids=lambda change: change.name)
def test_correct_variant_gets_full_marks(smoke_course, variant):
    got = course.scores(smoke_course, variant.name)
    lost = {grade_id: score for grade_id, (score, points) in got.items() if score != points}
    assert not lost, f"{variant.name} ({variant.note}) lost points in {lost}"


@pytest.mark.parametrize("mutant", mutations.CI_MUTANTS, ids=lambda change: change.name)
def test_wrong_submission_loses_exactly_its_concepts_points(smoke_course, mutant):
    got = course.scores(smoke_course, mutant.name)
    expected = {g: (0.0 if g in mutant.fails else p, p) for g, p in CELLS.items()}
    assert got == expected
    assert sum(score for score, _ in got.values()) == TOTAL - sum(CELLS[g] for g in mutant.fails)


def test_mutation_report_shows_what_the_ci_suite_graded(smoke_course):
    results = mutation_report.collect(smoke_course, mutations.CI_MUTANTS, variants.CI_VARIANTS)
    meta = {"command": "test", "budget": "smoke", "date": "today", "minutes": 1}
    text = mutation_report.report(results, CELLS_ORDER, meta)
    n = len(mutations.CI_MUTANTS)
    assert f"| mutation score (mutants that lost points) | {n}/{n} (100%) |" in text
    # The one-hot loss crashes fit, so the mutant loses cells beyond its concept, and says why.
    matrix = mutation_report.matrix(results, CELLS_ORDER)
    assert matrix in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in matrix.splitlines()}
    assert rows["categorical_crossentropy"].endswith("| **no** |")
    assert f"| precision (lost only their own concept's cells) | {n - 1}/{n} (" in text
    assert "- `categorical_crossentropy` (loss): loses test_compile_loss, " in text
    # A History built by hand loses Part E's hidden test, and only it.
    marks = rows["hand_built_history"].split(" | ")[3:3 + len(CELLS_ORDER)]
    assert {cell: mark for cell, mark in zip(CELLS_ORDER, marks) if mark} == {"test_train_history": "X"}
    assert "| hand_built_history | train_history | AssertionError: history.history['loss'] holds the same " \
           "number in every epoch" in text
    n_variants = len(variants.CI_VARIANTS)
    assert f"| variants with full marks | {n_variants}/{n_variants} (100%) |" in text


def test_feedback_tells_what_to_fix_without_data_paths(smoke_course, cifar_dir):
    course.generate_feedback(smoke_course, "mse_loss")
    html = course.feedback_html(smoke_course, "mse_loss").read_text()
    assert "use sparse categorical cross-entropy" in html
    assert "Held-out accuracy not scored" in html  # the mistake is charged once, and said so
    assert str(cifar_dir) not in html


def test_reference_feedback_page_matches_its_golden(smoke_course, golden):
    """The page a student with a correct notebook reads: its score, and each graded cell's."""
    course.generate_feedback(smoke_course, "reference")
    html = course.feedback_html(smoke_course, "reference").read_text()
    golden("feedback_reference.txt", feedback_digest(html))
    shown = BeautifulSoup(html, "html.parser").get_text()
    assert "<div" not in shown, "the page shows the sanitiser's markup as text"  # cleaned twice, wrapped twice


def test_reference_grading_record_matches_its_golden(smoke_course, golden):
    """The record grading leaves in the autograded notebook: outcome, budget, threshold, phases."""
    autograded = submissions.read(course.autograded_notebook(smoke_course, "reference"))
    golden("grading_record_reference.json", grading_record_digest(autograded))


def test_untrained_model_feedback_names_the_fix(smoke_course):
    autograded = submissions.read(course.autograded_notebook(smoke_course, "untrained"))
    cell = next(c for c in autograded.cells
                if tasks.grade_id(c) == "test_heldout_accuracy")
    error = next(out for out in cell.outputs if out.output_type == "error")
    assert "never trained" in error.evalue and "train(model_dropout" in error.evalue


def test_export_writes_every_students_autograded_score(smoke_course):
    grades = pd.read_csv(course.export(smoke_course)).set_index("student_id")
    assert grades.loc["reference", "score"] == TOTAL
    assert grades.loc["untouched", "score"] == 0
    assert grades.loc["mse_loss", "score"] == TOTAL - 2
    assert (grades["max_score"] == TOTAL + 4).all()  # two written answers of 2 points each

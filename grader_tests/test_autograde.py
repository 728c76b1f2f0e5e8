"""Real nbgrader autograde runs: what each kind of submission scores, and what students see.

Every submission here is graded under the smoke budget in one ``nbgrader autograde`` call
(see conftest.smoke_course).
"""

import pandas as pd
import pytest

from cnnkit import course, mutations, submissions, variants

from conftest import RELEASE, graded_cells

CELLS = graded_cells(submissions.read(RELEASE))
TOTAL = sum(CELLS.values())


def test_reference_gets_full_marks(smoke_course):
    assert course.scores(smoke_course, "reference") == {g: (p, p) for g, p in CELLS.items()}


def test_untouched_release_gets_nothing(smoke_course):
    got = course.scores(smoke_course, "untouched")
    assert set(got) == set(CELLS) and sum(score for score, _ in got.values()) == 0


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


def test_feedback_tells_what_to_fix_without_data_paths(smoke_course, cifar_dir):
    course.generate_feedback(smoke_course, "mse_loss")
    html = course.feedback_html(smoke_course, "mse_loss").read_text()
    assert "use sparse categorical cross-entropy" in html
    assert "Held-out accuracy not scored" in html  # the mistake is charged once, and said so
    assert str(cifar_dir) not in html


def test_untrained_model_feedback_names_the_fix(smoke_course):
    autograded = submissions.read(course.autograded_notebook(smoke_course, "untrained"))
    cell = next(c for c in autograded.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_heldout_accuracy")
    error = next(out for out in cell.outputs if out.output_type == "error")
    assert "never trained" in error.evalue and "train(model_dropout" in error.evalue


def test_export_writes_every_students_autograded_score(smoke_course):
    grades = pd.read_csv(course.export(smoke_course)).set_index("student_id")
    assert grades.loc["reference", "score"] == TOTAL
    assert grades.loc["untouched", "score"] == 0
    assert grades.loc["mse_loss", "score"] == TOTAL - 2
    assert (grades["max_score"] == TOTAL + 4).all()  # two written answers of 2 points each

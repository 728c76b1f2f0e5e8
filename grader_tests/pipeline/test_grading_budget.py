"""The reference, graded with the real grading budget, clears the held-out threshold."""

from cnnkit_tools import course, submissions
from cnnkit.budget import BUDGETS

from courses import make_course


def test_reference_clears_the_heldout_threshold_under_the_grading_budget(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "grading_course")
    submissions.write(submissions.reference(*submissions.source_and_release(directory)),
                      directory, "reference")
    course.autograde(directory, "reference", CNNKIT_BUDGET="")  # "" = decide as nbgrader does
    got = course.scores(directory, "reference")
    assert got["test_heldout_accuracy"] == (3.0, 3.0)
    assert all(score == points for score, points in got.values()), got
    autograded = submissions.read(course.autograded_notebook(directory, "reference"))
    setup_output = "".join(out.get("text", "") for out in autograded.cells[2].outputs)
    assert f"budget 'grading': {BUDGETS['grading'].n_train} training" in setup_output

"""Grading on submit after the due date: nbgrader's late-penalty plug-in, as the course sets it.

The instructor gives the assignment a due date (``nbgrader db assignment add --duedate``, here
a day in the past) and chooses nbgrader's ``zero`` penalty in the course's nbgrader_config.py.
A student submits the reference through the exchange; the service (``--once``, one worker,
smoke budget) grades it. The student's row then shows the score net of the penalty, as the
feedback nbgrader releases shows it, and says why: how late, what the penalty took, and that
the written answers await the instructor. One smoke grading.
"""

import datetime
import re

import pytest
from nbgrader.api import Gradebook

from cnnkit_tools import course, submissions
from cnnkit_tools.onsubmit import rehearsal

from courses import SMOKE

pytestmark = [pytest.mark.slow, pytest.mark.onsubmit]

ASSIGNMENT = submissions.ASSIGNMENT
PORTS = "18210-18229"  # the local pool's, apart from the other on-submit tests'


@pytest.fixture(scope="module")
def late(tmp_path_factory, cifar_dir):
    world = rehearsal.Exchange(tmp_path_factory.mktemp("onsubmit_late"),
                               {**SMOKE, "CNNKIT_GRADE_PORTS": PORTS, "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0"})
    with open(world.course / "nbgrader_config.py", "a") as config:  # the instructor's choice
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    due = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).replace(microsecond=0)
    course.nbgrader(world.course, "db", "assignment", "add", ASSIGNMENT,
                    f"--duedate={due.strftime('%Y-%m-%d %H:%M:%S')} UTC", **world.env)
    world.submit("dana", submissions.reference(*submissions.source_and_release(world.course)))
    service = world.start_service("once", "--once", "--workers", "1")
    service.wait(timeout=900)
    assert service.returncode == 0, service.log.read_text()[-4000:]
    return world


def test_a_late_submission_shows_the_penalty_the_course_chose_and_why(late):
    [row] = late.rows("dana")
    assert row.state == "graded" and row.released_at, (row, late.logs() if hasattr(late, "logs") else "")
    with Gradebook(late.url) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "dana")
        raw, penalty, max_score = submission.score, submission.late_submission_penalty, submission.max_score
        seconds_late = submission.total_seconds_late
    assert raw > 0 and penalty == raw and seconds_late > 23 * 3600  # nbgrader's "zero": all of it
    assert (row.score, row.max_score) == (0.0, max_score)
    assert re.fullmatch(r"4 points of 31 \(written answers\) await your instructor; they count as 0 until they "
                        rf"are marked\. Submitted 1 day (\d+ minutes? )?after the due date: the late penalty took "
                        rf"{raw:g} points\.", row.message), row.message
    [html] = late.fetch_feedback("dana")
    shown = re.search(r"Score: ([\d.]+) / ([\d.]+)", html.read_text()).groups()
    assert tuple(float(x) for x in shown) == (row.score, row.max_score)  # the page and the feedback agree

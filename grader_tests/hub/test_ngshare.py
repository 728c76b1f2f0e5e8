"""The course's exchange as ngshare, a JupyterHub service, with the kit's collect on top.

A second hub of the course, started by the kit's own code with ``exchange_kind="ngshare"``
(``CNNKIT_HUB_EXCHANGE=ngshare ./kit hub start``): ngshare runs as a hub-managed service,
the course and its students are enrolled in it, and every server gets CNNKIT_NGSHARE_URL,
so nbgrader's exchange is ngshare for students and the formgrader alike. The instructor
releases and collects through the formgrader's API; the students fetch and submit through
their own servers. One student then posts a submission straight to ngshare, as a script
would, with names nbgrader's submit never sends: ngshare refuses a path that climbs, and
the kit's collect leaves out what nbgrader's settings exclude. The hub's on-submit service
runs too, its collect and its feedback going through ngshare: the honest student's submission
(the untouched release) is graded and its feedback fetched through ngshare, with its score.
"""

import base64
import json
import re
import time
from pathlib import Path

import pytest

from cnnkit_tools import submissions

from running import course_hub  # grader_tests/hub/running.py
from people import Person, session  # grader_tests/hub/people.py

pytestmark = [pytest.mark.hub, pytest.mark.incremental]

ASSIGNMENT = submissions.ASSIGNMENT
PORT = 18070  # this hub takes 18070-18075 and 18080-18082
# The on-submit service: a 2 s pass, no cool-down, and its local pool apart from other tests'.
POLICY = {"CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0", "CNNKIT_GRADE_PORTS": "18250-18269"}
WAIT_SECONDS = 600


@pytest.fixture(scope="module")
def ngshare_hub(artifacts):
    with course_hub(artifacts, "ngshare-hub", port=PORT, course_id="cnnkit-ngshare", exchange_kind="ngshare", autograde_interval=2.0,
                    grader_env=POLICY,
                    instructors=("ngshare-teacher",), students=("ngshare-student1", "ngshare-student2")) as running:
        yield running


@pytest.fixture(scope="module")
def cast(ngshare_hub):
    settings, passwords = ngshare_hub
    people = {name: Person(settings, name, passwords[name]).login() for name in settings.users}
    students = [people[name] for name in settings.students]
    for student in students:
        student.start_server()  # as the hub's Start button does: their nbgrader runs there
    return settings, people[settings.instructors[0]], students


def ok(response):
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    body = response.json()
    assert body.get("success", True), (body.get("error") or body.get("value") or body, str(body.get("log", ""))[-4000:])
    return body


def course_args(settings):
    return {"course_id": settings.course_id, "assignment_id": ASSIGNMENT}


def listening_addresses(port):
    """The local addresses of every listening TCP socket on port (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_ngshare_is_a_hub_service_on_loopback_with_the_course_enrolled(cast):
    settings, teacher, students = cast
    # 0100007F is 127.0.0.1: ngshare's own start-up would listen on every interface
    assert listening_addresses(settings.ngshare_port) == ["0100007F"]
    token = settings.service_token_file.read_text().strip()
    enrolled = ok(session(token).get(f"{settings.ngshare_url}/students/{settings.course_id}", timeout=60))
    assert sorted(s["username"] for s in enrolled["students"]) == sorted(settings.students)


def test_release_fetch_and_submit_go_through_ngshare(cast):
    settings, teacher, students = cast
    released = ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/release"))
    assert not (settings.exchange / settings.course_id).exists(), "the release went to the shared folder"
    for student in students:
        fetched = ok(student.server("POST", "assignments/fetch", data=course_args(settings)))["value"]
        assert [a for a in fetched if a["assignment_id"] == ASSIGNMENT and a["status"] == "fetched"], fetched
        after = ok(student.server("POST", "assignments/submit", data=course_args(settings)))["value"]
        [mine] = [a for a in after if a["assignment_id"] == ASSIGNMENT and a["status"] == "submitted"]
        assert [s["student_id"] for s in mine["submissions"]] == [student.name]
    # nothing went through nbgrader's shared folder
    assert not (settings.exchange / settings.course_id).exists()


def encoded(path, data):
    return {"path": path, "content": base64.encodebytes(data).decode()}


def test_a_submission_posted_straight_to_ngshare_is_collected_only_as_far_as_the_kit_allows(cast):
    settings, teacher, students = cast
    forger = students[1]
    notebook = submissions.NOTEBOOK
    url = f"{settings.ngshare_url}/submission/{settings.course_id}/{ASSIGNMENT}"
    climbing = forger.http.post(url, timeout=60, data={"files": json.dumps(
        [encoded(notebook, b"{}"), encoded("../../escaped.txt", b"pwned")])})
    assert climbing.json() == {"success": False, "message": "Illegal path"}
    posted = ok(forger.http.post(url, timeout=60, data={"files": json.dumps(
        [encoded(notebook, b'{"forged": true}'), encoded("weights.keras", b"x" * 1000),
         encoded("__pycache__/x.pyc", b"x")])}))
    assert posted["success"]

    # The on-submit service collects (collect --update) every 2 s, so the instructor's collect
    # (the formgrader's, also --update) may come first or find it done, and may meet the
    # service's copy of the same submission under way: then it is tried again. Either way the
    # course's collect is the kit's, and what it kept is checked below.
    for attempt in range(3):
        response = teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/collect")
        if response.status_code == 200 and response.json().get("success"):
            break
        time.sleep(3)
    collected = ok(response)
    for student in students:
        assert re.search(f"(Collecting submission|Updating submission|No newer submission to collect): "
                         f"{student.name} {ASSIGNMENT}", collected["log"]), collected["log"]
    honest = settings.course_dir / "submitted" / students[0].name / ASSIGNMENT
    forged = settings.course_dir / "submitted" / forger.name / ASSIGNMENT
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and b"forged" not in _read(forged / notebook):
        time.sleep(1)   # the service's next pass takes the newer, forged submission
    assert sorted(p.name for p in honest.iterdir()) == [notebook, "timestamp.txt"]
    assert "# YOUR CODE HERE" in (honest / notebook).read_text()
    # the kit's collect applied nbgrader's ignore list ("*.keras", "__pycache__") to the names
    # the student chose; ngshare_exchange's own collect writes every one of them
    assert sorted(str(p.relative_to(forged)) for p in forged.rglob("*")) == [notebook, "timestamp.txt"]
    assert json.loads((forged / notebook).read_text()) == {"forged": True}
    assert not list(settings.course_dir.parent.rglob("escaped.txt"))


def _read(path):
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_the_on_submit_service_grades_through_ngshare_and_releases_feedback_there(cast):
    """The untouched release the honest student submitted is graded by the hub's service (0:
    nothing answered) and its feedback released through ngshare, where the student's own
    server fetches it, as JupyterLab's Assignments tab does."""
    settings, teacher, students = cast
    honest = students[0]
    deadline, found = time.monotonic() + WAIT_SECONDS, None
    while time.monotonic() < deadline and found is None:
        after = ok(honest.server("POST", "assignments/fetch_feedback", data=course_args(settings)))["value"]
        for assignment in after:
            for submission in assignment.get("submissions", []):
                if assignment["assignment_id"] == ASSIGNMENT and submission.get("has_local_feedback"):
                    html = honest.server("GET", f"api/contents/{submission['local_feedback_path']}/{ASSIGNMENT}.html"
                                         ).json()["content"]
                    found = re.search(r"Score: ([\d.]+) / ([\d.]+)", html)
        time.sleep(2)
    assert found, f"no feedback reached {honest.name} through ngshare in {WAIT_SECONDS} s"
    assert (float(found.group(1)), float(found.group(2))) == (0.0, 31.0)  # 27 autograded, 4 written
    # the feedback went through ngshare too: nothing in nbgrader's shared folder
    assert not (settings.exchange / settings.course_id).exists()

"""The whole course loop on a real JupyterHub, as its people would drive it.

One instructor and two students log in with their accounts' passwords. The instructor
works through the course's formgrader service (its REST API, and in Chromium its JupyterLab
panel); the students through their own JupyterLab servers (the contents API, nbgrader's
assignment and validation endpoints, and in Chromium the Assignments tab). One student hands
in the reference solution, the other a partly wrong one. Grading runs the kit's pipeline
inside the formgrader, sandboxed, under the smoke budget. The steps run in file order.
"""

import csv
import pwd
import re
import threading
import time
from pathlib import Path

import pytest

from cnnkit import budget
from cnnkit.kernel_env import KERNEL_ENV
from cnnkit_tools import samples as sample_submissions
from cnnkit_tools import submissions
from hub import coursefolder

pytestmark = [pytest.mark.hub, pytest.mark.incremental]

ASSIGNMENT = submissions.ASSIGNMENT
GRADING_TIMEOUT = 900
# The written answers the instructor grades by hand, and the points given (of 2 each).
MANUAL = {"answer_training_curve": 2, "answer_dropout_rate": 1}


@pytest.fixture(scope="module")
def roles(settings, people):
    """(instructor, reference student, partly-wrong student) as logged-in people."""
    teacher = people[settings.instructors[0]]
    first, second = (people[name] for name in settings.students)
    return teacher, first, second


@pytest.fixture(scope="module")
def loop():
    """What one step hands the next: scores, paths, submission ids."""
    return {}


def course_args(settings):
    return {"course_id": settings.course_id, "assignment_id": ASSIGNMENT}


def listing(person, settings):
    """The person's Assignments list, as their JupyterLab tab asks their server for it."""
    got = person.server("GET", "assignments", params={"course_id": settings.course_id})
    got.raise_for_status()
    body = got.json()
    assert body["success"], body
    return body["value"]


def by_status(assignments, status):
    return [a for a in assignments if a["status"] == status and a["assignment_id"] == ASSIGNMENT]


def ok(response):
    """The JSON of a successful nbgrader endpoint call (they answer 200 with success=false)."""
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    body = response.json()
    if isinstance(body, dict) and "success" in body:
        assert body["success"], (body.get("error") or body.get("value") or body,
                                 str(body.get("log", ""))[-4000:])
    return body


def feedback_score(html):
    found = re.search(r"Score: ([\d.]+) / ([\d.]+)", html)
    assert found, "the feedback page shows no score"
    return float(found.group(1)), float(found.group(2))


# ---------------------------------------------------------------------------------------------
def test_the_hub_serves_one_course(settings, roles):
    teacher, first, _ = roles
    assert coursefolder.sandbox_check(settings) is None, (
        "bubblewrap cannot use unprivileged user namespaces as the grader account here")
    version = teacher.hub_api("GET", "").json()["version"]
    assert version.startswith("5."), version
    services = teacher.hub_api("GET", "services").json()
    assert settings.course_id in services, f"the instructor does not see the course's service: {services}"
    me = first.hub_api("GET", f"users/{first.name}").json()
    assert f"nbgrader-{settings.course_id}" in me["groups"]
    assert f"formgrade-{settings.course_id}" not in me["groups"]
    students = ok(teacher.formgrader("GET", "students"))
    assert {s["id"] for s in students} == set(settings.students)


def test_instructor_releases_the_assignment(settings, roles):
    teacher, first, second = roles
    assignments = ok(teacher.formgrader("GET", "assignments"))
    assert [a["name"] for a in assignments] == [ASSIGNMENT]
    released = ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/release"))
    assert f"Released as: {settings.course_id} {ASSIGNMENT}" in released["log"]
    for student in (first, second):
        student.start_server()
        assert by_status(listing(student, settings), "released"), \
            f"{student.name} does not see the released assignment"


def test_student_sees_the_assignment_in_jupyterlab(settings, roles, browsers):
    _, first, _ = roles
    browser = browsers(first.name)
    page = browser.page
    browser.open_assignments()
    released = page.locator("#released_assignments_list .list_item").filter(has_text=ASSIGNMENT)
    released.wait_for()
    assert released.locator("button", has_text="Fetch").is_visible()
    assert settings.course_id in released.inner_text()
    browser.screenshot("01-student-assignments-released.png")


def test_students_fetch_work_validate_and_submit(settings, roles, loop):
    _, first, second = roles
    samples = sample_submissions.samples(settings.course_dir)  # read as root: the grader's own copy
    work = {first: samples["reference"], second: samples["partly_wrong"]}
    for student, solution in work.items():
        fetched = ok(student.server("POST", "assignments/fetch", data=course_args(settings)))["value"]
        [assignment] = by_status(fetched, "fetched")
        # Every kernel the student starts inherits their server's environment: the allocator
        # setting that keeps a kernel's memory down (cnnkit/kernel_env.py) is in it.
        marker = f"JUPYTERHUB_USER={student.name}".encode()
        servers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and marker in _environ(p)]
        assert servers, f"no server process of {student.name} found"
        assert all(f"{k}={v}".encode() in _environ(p) for p in servers for k, v in KERNEL_ENV.items())
        path = assignment["notebooks"][0]["path"]
        assert path == f"{settings.course_id}/{ASSIGNMENT}/{submissions.NOTEBOOK}"
        release = student.server("GET", f"api/contents/{path}").json()["content"]
        assert "# YOUR CODE HERE" in "".join(c["source"] for c in release["cells"])

        saved = student.server("PUT", f"api/contents/{path}",
                               json={"type": "notebook", "format": "json", "content": solution})
        assert saved.status_code == 200, saved.text

        validated = ok(student.server("POST", "assignments/validate", data={"path": path},
                                      timeout=GRADING_TIMEOUT))["value"]
        failed = validated.get("failed", []) if isinstance(validated, dict) else validated
        if student is first:
            assert not failed, f"the reference solution fails validation: {validated}"
        else:
            assert failed, "validation reports nothing wrong with the partly wrong solution"
        loop.setdefault("validation", {})[student.name] = len(failed)

        after = ok(student.server("POST", "assignments/submit", data=course_args(settings)))["value"]
        [submitted] = by_status(after, "submitted")
        assert [s["student_id"] for s in submitted["submissions"]] == [student.name]
        loop.setdefault("timestamps", {})[student.name] = submitted["submissions"][-1]["timestamp"]


def _status(pid):
    """{field: value} from /proc/PID/status (Name, PPid, Uid, ...), or {} once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


class SandboxWatch:
    """The bubblewrap processes the formgrader service starts, and their real user ids.

    Samples /proc every 0.2 s while grading runs, keeping each ``bwrap`` whose ancestors
    include the service's process (other people's sandboxes on the machine don't count).
    """

    def __init__(self, service_name):
        marker = f"JUPYTERHUB_SERVICE_NAME={service_name}".encode()
        self.service = {int(p.name) for p in Path("/proc").iterdir()
                        if p.name.isdigit() and marker in _environ(p)}
        self.uids, self._stop = set(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _descends_from_service(self, pid):
        while pid > 1:
            if pid in self.service:
                return True
            pid = int(_status(pid).get("PPid", 0))
        return False

    def _watch(self):
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                status = _status(entry.name)
                if status.get("Name") == "bwrap" and self._descends_from_service(int(entry.name)):
                    self.uids.add(int(status["Uid"].split()[0]))  # the real user id
            time.sleep(0.2)

    def __enter__(self):
        assert self.service, "the formgrader service's process is not running"
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _environ(proc):
    try:
        return (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return []


def test_instructor_collects_and_autogrades_in_the_sandbox(settings, roles, loop):
    teacher, first, second = roles
    collected = ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/collect"))
    for student in (first, second):
        assert f"Collecting submission: {student.name} {ASSIGNMENT}" in collected["log"]

    grader_uid = pwd.getpwnam(settings.grader).pw_uid
    for student in (first, second):
        with SandboxWatch(settings.course_id) as watch:
            graded = ok(teacher.formgrader("POST", f"submission/{ASSIGNMENT}/{student.name}/autograde",
                                           timeout=GRADING_TIMEOUT))
        assert "CNNKIT_SANDBOX=off" not in graded["log"], "student code ran without the sandbox"
        assert watch.uids == {grader_uid}, (
            f"grading {student.name}'s notebook should run bubblewrap as {settings.grader} "
            f"(uid {grader_uid}) only; saw uids {watch.uids or 'none'}")

    rows = {row["student"]: row for row in ok(teacher.formgrader("GET", f"submissions/{ASSIGNMENT}"))}
    assert set(rows) == {first.name, second.name}
    full = rows[first.name]["max_code_score"]
    assert rows[first.name]["code_score"] == full, rows[first.name]
    assert rows[second.name]["code_score"] < full, rows[second.name]
    assert all(row["autograded"] and row["needs_manual_grade"] for row in rows.values())
    loop["autograded"] = {name: row["score"] for name, row in rows.items()}
    loop["max_score"] = rows[first.name]["max_score"]


def _frame_at(page, path, timeout=60):
    """The page's frame whose address contains path, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if path in frame.url:
                return frame
        page.wait_for_timeout(200)
    raise AssertionError(f"no frame at {path}: {[f.url for f in page.frames]}")


def _wait_for(condition, message, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.3)


def _manual_scores(teacher, notebook_id):
    """{grade_id: manual score} of one submitted notebook, from the formgrader's API."""
    grades = ok(teacher.formgrader("GET", "grades", params={"submission_id": notebook_id}))
    return {g["name"]: g["manual_score"] for g in grades if g["manual_score"] is not None}


def test_instructor_sees_scores_and_grades_by_hand_in_the_formgrader(settings, roles, browsers, loop):
    teacher, first, second = roles
    browser = browsers(teacher.name)
    page = browser.page
    page.goto(f"{settings.service_url}lab?formgrader=true")
    # The formgrader panel is an iframe of the service's own /formgrader: blank if the
    # browser refuses to frame it (jupyter/nbgrader#1870).
    frame = page.frame_locator("iframe[src*='formgrader']")
    row = frame.locator("tr", has_text=ASSIGNMENT)
    row.wait_for()
    assert frame.locator("h1", has_text="Manage Assignments").is_visible()
    assert "released" in row.inner_text()
    browser.screenshot("02-instructor-formgrader.png")

    row.locator("a", has_text="2").click()  # the number of submissions
    for student in (first, second):
        line = frame.locator("tr", has_text=student.name)
        line.wait_for()
        score = line.locator("td.score").inner_text().strip()
        expected = f"{loop['autograded'][student.name]:g} / {loop['max_score']:g}"
        assert score == expected, f"{student.name}: the formgrader shows {score}, not {expected}"
    browser.screenshot("03-instructor-submissions-with-scores.png")

    frame.locator("a", has_text="Manual Grading").first.click()
    frame.locator("a", has_text=ASSIGNMENT).first.click()
    frame.locator("td a", has_text=ASSIGNMENT).first.click()  # the notebook's submissions
    frame.locator("a.name-hidden", has_text="Submission #").first.wait_for()  # anonymous at first
    frame.locator("button", has_text="Show All Names").click()
    mine = frame.locator("a.name-shown", has_text=first.name)
    mine.wait_for(state="visible")
    notebook_id = mine.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    mine.click()
    grading = _frame_at(page, f"/formgrader/submissions/{notebook_id}")
    grading.wait_for_load_state("networkidle")  # its script has fetched the grades
    for grade_id, points in MANUAL.items():
        box = grading.locator(f"input.score#{grade_id}")
        box.scroll_into_view_if_needed()
        box.fill(str(points))
        box.blur()  # the formgrader saves a grade when its box loses focus
        _wait_for(lambda: _manual_scores(teacher, notebook_id).get(grade_id) == points,
                  f"the formgrader did not save {grade_id} = {points}")
    grading.locator("span.glyphicon-eye-open.name-hidden").click()  # show whose work this is
    assert grading.locator("a.name-shown", has_text=first.name).first.is_visible()
    page.mouse.move(0, 0)  # no tooltip over the page
    grading.locator(f"input.score#{next(iter(MANUAL))}").scroll_into_view_if_needed()
    browser.screenshot("04-instructor-grades-written-answers.png")
    row = ok(teacher.formgrader("GET", f"submission/{ASSIGNMENT}/{first.name}"))
    assert row["score"] == loop["autograded"][first.name] + sum(MANUAL.values()), row
    assert not row["needs_manual_grade"], row

    coursefolder.nbgrader(settings, "export", "--to", "grades.csv")
    with open(settings.course_dir / "grades.csv") as exported:
        grades = {r["student_id"]: float(r["score"]) for r in csv.DictReader(exported)
                  if r["assignment"] == ASSIGNMENT}
    assert grades == {first.name: loop["autograded"][first.name] + sum(MANUAL.values()),
                      second.name: loop["autograded"][second.name]}
    loop["final"] = grades


def test_feedback_reaches_each_student_with_their_own_score(settings, roles, loop):
    teacher, first, second = roles
    ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/generate_feedback", timeout=GRADING_TIMEOUT))
    released = ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/release_feedback"))
    smoke = budget.BUDGETS["smoke"]
    for student in (first, second):
        assert f"Releasing feedback for student '{student.name}'" in released["log"]
        after = ok(student.server("POST", "assignments/fetch_feedback", data=course_args(settings)))
        [submitted] = by_status(after["value"], "submitted")
        [mine] = submitted["submissions"]
        assert mine["has_local_feedback"], mine
        page = student.server("GET", f"api/contents/{mine['local_feedback_path']}/"
                                     f"{ASSIGNMENT}.html").json()["content"]
        score, out_of = feedback_score(page)
        assert (score, out_of) == (loop["final"][student.name], loop["max_score"]), (
            f"{student.name}'s feedback says {score} / {out_of}")
        # The grader's kernel trained on the smoke budget's images: CNNKIT_BUDGET reached it.
        assert f"training: ({smoke.n_train}, 32, 32, 3)" in page
        loop.setdefault("feedback", {})[student.name] = mine["local_feedback_path"]


def test_student_reads_feedback_in_jupyterlab(settings, roles, browsers, loop):
    _, first, _ = roles
    browser = browsers(first.name)
    page = browser.page
    browser.open_assignments()
    page.locator("#refresh_assignments_list").click()
    submitted = page.locator("#submitted_assignments_list")
    link = submitted.get_by_text("view feedback")
    link.wait_for()
    browser.screenshot("05-student-feedback-listed.png")
    link.click()  # the file browser goes to the feedback's folder
    listed = page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html")
    listed.dblclick()  # JupyterLab shows the page in its HTML viewer
    feedback = page.frame_locator(".jp-HTMLViewer iframe")
    total = f"{ASSIGNMENT} (Score: {loop['final'][first.name]:.1f} / {loop['max_score']:.1f})"
    feedback.get_by_text(total).first.wait_for()  # the student's own total, at the top
    browser.screenshot("06-student-feedback.png")


def test_students_see_neither_each_other_nor_the_formgrader(settings, roles, browsers, loop):
    _, first, second = roles
    for me, other in ((first, second), (second, first)):
        assert me.server_of(other.name, "GET", "api/contents").status_code == 403
        assert me.formgrader("GET", f"submissions/{ASSIGNMENT}").status_code == 403
        mine = by_status(listing(me, settings), "submitted")[0]["submissions"]
        assert {s["student_id"] for s in mine} == {me.name}

    # On the machine, as the student's own account (what their kernel or terminal could do):
    exchange = settings.exchange / settings.course_id
    probes = {
        "list the exchange's inbound folder": f"os.listdir({str(exchange / 'inbound')!r})",
        "list the exchange's feedback folder": f"os.listdir({str(exchange / 'feedback')!r})",
        "read the course folder": f"os.listdir({str(settings.course_dir)!r})",
        "read the other's home": f"os.listdir({str(settings.home(first.name))!r})",
    }
    for what, code in probes.items():
        done = coursefolder.as_user(second.name, [f"{settings.python_bin}/python", "-c",
                                                  f"import os; {code}"], cwd="/", check=False)
        assert done.returncode != 0 and "PermissionError" in done.stdout, \
            f"{second.name} can {what}: {done.stdout[-500:]}"

    browser = browsers(second.name)
    browser.page.goto(f"{settings.service_url}lab?formgrader=true")
    browser.page.get_by_text("403").first.wait_for()
    assert "permission to access JupyterHub service" in browser.page.locator("body").inner_text()
    browser.screenshot("07-student-denied-formgrader.png")

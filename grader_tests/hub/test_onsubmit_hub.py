"""Grading on submit on a real course hub: the autograding service, its pages, its limits.

A hub of its own (``running.course_hub``, ports 18090-18095 and 18100-18102), started by the
kit's code with the smoke budget, one graded attempt per student per day, no cool-down and a
2 s pass: ``./kit hub start`` runs ``autograde-<course>`` beside the formgrader. The
instructor releases the assignment; two students fetch it and save their work through their
own servers (the reference and a partly wrong notebook), then each clicks Submit in
JupyterLab's Assignments tab. In headless Chromium each student logs in to the service's page
through the hub's OAuth and watches their submission go from the queue to graded; each then
fetches their own feedback as JupyterLab's tab does, with their own score, and the test
prints the submit-to-feedback times; then, in JupyterLab's Assignments tab, each clicks
"view feedback" and reads their own score on the feedback page. The 3-minute target is a figure of ``./kit bench
--on-submit`` on a quiet machine, not asserted here: in the full suite these gradings share
2 cores with four autograde runs started at the same time. A second submission is refused
by the daily limit, with its message on the page. Neither student can read the other's rows
through the page or the API; a request without a login is sent to the hub's login or refused.
Last, the hub is restarted while a submission grades, and then the service itself is SIGKILLed
while another grades: JupyterHub starts it again, and each is graded and released once.
"""

import dataclasses
import datetime
import os
import re
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from cnnkit_tools import samples as sample_submissions
from cnnkit_tools import submissions

from hub import control

from conftest import Browser  # grader_tests/hub/conftest.py
from people import Person, session  # grader_tests/hub/people.py
from running import course_hub  # grader_tests/hub/running.py

pytestmark = [pytest.mark.hub, pytest.mark.onsubmit, pytest.mark.incremental]

ASSIGNMENT = submissions.ASSIGNMENT
PORT = 18090  # this hub takes 18090-18095 and 18100-18102
LIMIT_SECONDS = 180     # the target, printed against; ./kit bench --on-submit measures it
WAIT_SECONDS = 1500     # how long the test waits: the suite's autograde runs share the cores
POLICY = {"CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "1", "CNNKIT_ONSUBMIT_COOLDOWN_MINUTES": "0",
          "CNNKIT_GRADE_PORTS": "18270-18289"}  # the service's local pool, apart from every other test's ports


@pytest.fixture(scope="module")
def autograde_hub(artifacts):
    with course_hub(artifacts, "onsubmit-hub", port=PORT, course_id="cnnkit-onsubmit", autograde_interval=2.0,
                    grader_env=POLICY, instructors=("onsub-teacher",),
                    students=("onsub-student1", "onsub-student2")) as running:
        yield running


@pytest.fixture(scope="module")
def cast(autograde_hub):
    settings, passwords = autograde_hub
    people = {name: Person(settings, name, passwords[name]).login() for name in settings.users}
    return settings, passwords, people[settings.instructors[0]], [people[name] for name in settings.students]


def reopen(page, tries=5):
    """Load the page afresh. It refreshes itself every few seconds (a meta refresh), and a
    reload that meets that refresh is aborted by Chromium: try again, as a person would."""
    for attempt in range(tries):
        try:
            page.goto(page.url, wait_until="load")
            return
        except PlaywrightError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def loop():
    return {}


@pytest.fixture(scope="module")
def pages(playwright, autograde_hub, artifacts):
    """pages(name) -> that person's Chromium, logged in to the service's page through the hub's OAuth."""
    settings, passwords = autograde_hub
    made = {}

    def get(name):
        if name not in made:
            browser = Browser(playwright, settings, name, passwords[name], artifacts)
            page = browser.page
            page.goto(settings.autograde_url)  # no login yet: the hub's login page
            _log_in(page, settings, name, passwords[name])
            made[name] = browser
        return made[name]

    yield get
    for browser in made.values():
        browser.close()


def _log_in(page, settings, name, password):
    """Fill in the hub's login form the page shows, and wait to be back on the service's page."""
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(f"{settings.autograde_url}**")


def shoot(browser, name, page=None):
    """A screenshot of the person's page, its path printed (the hub conftest's summary lists its own)."""
    path = browser.screenshot(name, page=page)
    print(f"\nscreenshot: {path}")
    return path


def ok(response):
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    body = response.json()
    if isinstance(body, dict) and "success" in body:
        assert body["success"], (body.get("error") or body.get("value") or body, str(body.get("log", ""))[-4000:])
    return body


def course_args(settings):
    return {"course_id": settings.course_id, "assignment_id": ASSIGNMENT}


def service(person, path, **kwargs):
    return person.http.get(f"{person.settings.autograde_url}{path}", timeout=60, **kwargs)


def mine(person):
    return ok(service(person, "api/submissions"))


def _epoch(iso):
    return datetime.datetime.fromisoformat(iso).timestamp()


def _environ(pid):
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _service_processes(settings):
    """{pid: psutil.Process} of the service's own two processes (not its pool's or nbgrader's)."""
    import psutil

    marker = f"JUPYTERHUB_SERVICE_NAME={settings.autograde_service}".encode()
    found = {}
    for pid in _marked(marker):
        try:
            process = psutil.Process(pid)
            if "cnnkit_tools.onsubmit.web" in " ".join(process.cmdline()):
                found[pid] = process
        except psutil.NoSuchProcess:  # gone while we looked: a service being stopped or killed
            pass
    return found


def _marked(marker):
    """The pids whose environment holds ``marker``: a service's processes and what they started."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and marker in _environ(p.name)]


def test_the_service_runs_as_the_course_account_and_only_its_launcher_as_root(cast):
    """The pages, the ledger and the gradebook belong to the course's account (issue 14): the
    process serving them runs as it, and only its parent, the launcher that grades in the
    sandbox's slots, stays root; neither imports from the course folder."""
    import pwd

    settings, _, teacher, students = cast
    services = teacher.hub_api("GET", "services").json()
    assert settings.autograde_service in services, services
    found = _service_processes(settings)
    owner = pwd.getpwnam(settings.grader).pw_uid
    by_uid = {process.uids().real: process for process in found.values()}
    assert sorted(by_uid) == sorted({0, owner}) and len(found) == 2, {pid: p.uids() for pid, p in found.items()}
    service, root = by_uid[owner], by_uid[0]
    assert service.ppid() == root.pid and set(service.uids()) == {owner} and 0 not in service.gids()
    port = settings.autograde_port
    assert any(c.laddr.port == port and c.status == "LISTEN" for c in service.net_connections("tcp"))
    assert not any(c.laddr.port == port for c in root.net_connections("tcp"))
    course = Path(settings.course_dir).resolve()
    for process in (service, root):  # ... and imports nothing from the course folder
        assert Path(process.cwd()).resolve() != course
        assert b"PYTHONSAFEPATH=1" in _environ(process.pid)
    assert not [f.path for f in root.open_files() if Path(f.path).resolve().is_relative_to(course)]
    anonymous = session()
    page = anonymous.get(settings.autograde_url, allow_redirects=False, timeout=60)
    assert page.status_code == 302 and "/hub/api/oauth2/authorize" in page.headers["Location"], page.status_code
    assert anonymous.get(f"{settings.autograde_url}api/submissions", timeout=60).status_code == 403
    for student in students:
        view = mine(student)
        assert (view["student"], view["submissions"], view["attempts_left"]) == (student.name, [], 1), view


def test_students_submit_the_reference_and_a_partly_wrong_notebook(cast, loop, pages):
    """Each student fetches the assignment and saves their work through their own server, then
    clicks Submit in JupyterLab's Assignments tab, in Chromium, one right after the other."""
    settings, _, teacher, (first, second) = cast
    ok(teacher.formgrader("POST", f"assignment/{ASSIGNMENT}/release"))
    samples = sample_submissions.samples(settings.course_dir)
    work = {first: samples["reference"], second: samples["partly_wrong"]}
    for student in work:
        student.start_server()
    for student, solution in work.items():
        fetched = ok(student.server("POST", "assignments/fetch", data=course_args(settings)))["value"]
        [assignment] = [a for a in fetched if a["assignment_id"] == ASSIGNMENT and a["status"] == "fetched"]
        path = assignment["notebooks"][0]["path"]
        saved = student.server("PUT", f"api/contents/{path}", json={"type": "notebook", "format": "json",
                                                                     "content": solution})
        assert saved.status_code == 200, saved.text
    labs = {}
    for student in work:
        browser = pages(student.name)
        lab = labs[student.name] = browser.context.new_page()  # the service's page stays in the first tab
        lab.goto(f"{settings.user_url(student.name)}lab")  # the hub's OAuth, already logged in
        lab.wait_for_url("**/lab**", timeout=120_000)
        browser.open_assignments(lab)
        lab.locator("#refresh_assignments_list").click()
        _submit_button(lab).wait_for(timeout=120_000)
    for student in work:  # both at once, as a class would
        lab = labs[student.name]
        _submit_button(lab).click()
        loop.setdefault("submitted", {})[student.name] = time.monotonic()
    for student in work:
        lab = labs[student.name]
        lab.locator("#submitted_assignments_list .list_item").filter(has_text=ASSIGNMENT).first.wait_for(
            timeout=120_000)  # nbgrader's submit, then the list's refresh, on cores the suite keeps busy
        shoot(pages(student.name), f"onsubmit-00-{student.name}-submitted-in-jupyterlab.png", page=lab)
        lab.close()


def _submit_button(lab):
    """The Submit button of the fetched assignment in JupyterLab's Assignments tab."""
    return lab.locator("#fetched_assignments_list .list_item").filter(has_text=ASSIGNMENT).locator(
        "button", has_text="Submit")


def _feedback(student, settings):
    """(score, out of) in the student's newest fetched feedback, or None (fetched as JupyterLab's tab does)."""
    after = ok(student.server("POST", "assignments/fetch_feedback", data=course_args(settings)))["value"]
    for assignment in after:
        for submission in sorted(assignment.get("submissions", []), key=lambda s: s["timestamp"], reverse=True):
            if assignment["assignment_id"] == ASSIGNMENT and submission.get("has_local_feedback"):
                html = student.server("GET", f"api/contents/{submission['local_feedback_path']}/{ASSIGNMENT}.html"
                                      ).json()["content"]
                found = re.search(r"Score: ([\d.]+) / ([\d.]+)", html)
                return (float(found.group(1)), float(found.group(2))) if found else None
    return None


def test_each_student_watches_their_state_change_then_reads_their_own_feedback(cast, loop, pages):
    settings, _, _, students = cast
    seen = {s.name: [] for s in students}
    browsers = {s.name: pages(s.name) for s in students}
    shot_waiting = set()
    done = {}
    deadline = max(loop["submitted"].values()) + WAIT_SECONDS
    while len(done) < len(students) and time.monotonic() < deadline:
        for student in students:
            if student.name in done:
                continue
            [row, *_] = mine(student)["submissions"] or [None]
            state = row and row["state"]
            if state and (not seen[student.name] or seen[student.name][-1] != state):
                seen[student.name].append(state)
            browser = browsers[student.name]
            if state in ("queued", "grading") and student.name not in shot_waiting:
                reopen(browser.page)
                browser.page.locator(f".state-{state}").first.wait_for()
                shoot(browser, f"onsubmit-01-{student.name}-{state}.png")
                shot_waiting.add(student.name)
            if row and row["released_at"]:
                score = _feedback(student, settings)
                if score:
                    done[student.name] = (time.monotonic() - loop["submitted"][student.name], score, row)
        time.sleep(1)
    for name, (seconds, score, row) in done.items():
        print(f"\n{name}: submit to feedback {seconds:.0f} s ({'within' if seconds <= LIMIT_SECONDS else 'over'} "
              f"the {LIMIT_SECONDS} s target; score {score[0]:g} / {score[1]:g}; ledger phases "
              f"{row['phases']}; states seen {' -> '.join(seen[name])})")
    assert len(done) == len(students), f"no feedback within {WAIT_SECONDS} s for {set(seen) - set(done)}: {seen}"
    first, second = students
    assert done[first.name][1][0] > done[second.name][1][0], "the partly wrong notebook scored as high as the reference"
    for student in students:
        seconds, score, row = done[student.name]
        assert (row["score"], row["max_score"]) == score, (row, score)  # the page and the feedback agree
        assert seen[student.name][-1] == "graded" and len(seen[student.name]) >= 2, seen  # it changed on the way
        page = browsers[student.name].page
        reopen(page)
        text = page.locator("#content").inner_text()
        assert "feedback released" in text and f"{score[0]:g} / {score[1]:g}" in text, text
        assert all(other.name not in text for other in students if other is not student)
        shoot(browsers[student.name], f"onsubmit-02-{student.name}-graded.png")
    loop["graded"] = {name: value[1] for name, value in done.items()}


def test_each_student_finds_their_feedback_in_jupyterlabs_assignments_tab(cast, loop, pages):
    """In a second tab of the same Chromium, each student opens their JupyterLab, the Assignments
    tab lists the graded submission with "view feedback", and the feedback page it opens shows
    their own score: what the service released is what the student finds, where nbgrader puts it."""
    settings, _, _, students = cast
    for student in students:
        browser = pages(student.name)
        lab = browser.context.new_page()  # the service's page stays open in the first tab
        lab.goto(f"{settings.user_url(student.name)}lab")  # the hub's OAuth, already logged in
        lab.wait_for_url("**/lab**", timeout=120_000)
        browser.open_assignments(lab)
        lab.locator("#refresh_assignments_list").click()
        link = lab.locator("#submitted_assignments_list").get_by_text("view feedback").first
        link.wait_for()
        link.click()  # the file browser goes to the feedback's folder
        lab.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html").dblclick()
        score, out_of = loop["graded"][student.name]
        total = f"{ASSIGNMENT} (Score: {score:.1f} / {out_of:.1f})"
        lab.frame_locator(".jp-HTMLViewer iframe").get_by_text(total).first.wait_for()
        shoot(browser, f"onsubmit-02b-{student.name}-feedback-in-jupyterlab.png", page=lab)
        lab.close()

def test_root_wrote_nothing_in_the_course_folder(cast):
    """After two gradings, their feedback and its release: every file and folder in the course
    folder (gradebook, autograded/, feedback/) is the course account's; root made none of them."""
    settings = cast[0]
    course = Path(settings.course_dir)
    assert (course / "autograded").is_dir() and (course / "gradebook.db").is_file()
    assert [str(p) for p in [course, *course.rglob("*")] if p.lstat().st_uid == 0] == []


def test_a_submission_beyond_the_daily_limit_is_refused_with_a_clear_message(cast, pages):
    settings, _, _, (first, _) = cast
    ok(first.server("POST", "assignments/submit", data=course_args(settings)))
    deadline = time.monotonic() + 60
    while True:
        newest = mine(first)["submissions"][0]
        if newest["state"] == "refused" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert newest["state"] == "refused", newest
    assert "Not graded: you have used 1 of your 1 graded attempt in the last 24 hours" in newest["message"]
    assert mine(first)["attempts_left"] == 0
    browser = pages(first.name)
    reopen(browser.page)
    browser.page.locator(".state-refused").first.wait_for()
    text = browser.page.locator("#content").inner_text()
    assert "Not graded: you have used 1 of your 1 graded attempt" in text and "Submit again from" in text
    assert browser.page.locator("#attempts-left").inner_text() == "0"
    shoot(browser, f"onsubmit-03-{first.name}-refused.png")


def test_no_student_reads_anothers_rows_and_the_instructor_sees_the_queue(cast, pages):
    settings, _, teacher, (first, second) = cast
    for me, other in ((first, second), (second, first)):
        assert service(me, f"api/submissions/{other.name}").status_code == 403
        assert service(me, f"students/{other.name}").status_code == 403
        assert service(me, "api/queue").status_code == 403
        assert service(me, "queue").status_code == 403
        assert other.name not in service(me, "api/submissions").text
        assert other.name not in service(me, "").text
    queue = ok(service(teacher, "api/queue"))
    assert {e["student"] for e in queue["recent"]} == {first.name, second.name}
    assert queue["counts"]["graded"] + queue["counts"]["fault"] == 2 and queue["counts"]["refused"] == 1
    assert ok(service(teacher, f"api/submissions/{first.name}"))["student"] == first.name

    browser = pages(first.name)
    browser.page.goto(f"{settings.autograde_url}students/{second.name}")
    assert "403" in browser.page.locator("body").inner_text()
    shoot(browser, f"onsubmit-04-{first.name}-denied-others-page.png")
    teacher_page = pages(teacher.name)
    teacher_page.page.goto(f"{settings.autograde_url}queue")
    teacher_page.page.locator("#throughput").wait_for()
    text = teacher_page.page.locator("#content").inner_text()
    assert first.name in text and second.name in text and "Recent outcomes" in text
    shoot(teacher_page, "onsubmit-05-instructor-queue.png")


def _released(settings):
    """The feedback files the service has released into the exchange, one per release."""
    return sorted((Path(settings.exchange) / settings.course_id / "feedback").glob("*.html"))


def _kept(rows):
    """What must not change in a student's earlier rows when the service stops or is killed."""
    return [{k: row[k] for k in ("timestamp", "state", "score", "max_score", "released_at")} for row in rows]


def _unlimited(settings):
    """The hub's settings once the instructor has lifted the daily limit (0: no limit)."""
    return dataclasses.replace(settings, grader_env={**POLICY, "CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY": "0"})


def _wait_until_grading(student, seconds, deadline):
    """The student's newest row once it has been grading for ``seconds``, or its last state at the deadline."""
    while time.monotonic() < deadline:
        newest = mine(student)["submissions"][0]
        if newest["state"] == "grading" and time.time() - _epoch(newest["started_at"]) > seconds:
            break
        time.sleep(1)
    return newest


def _once_released(student, deadline):
    """The student's rows, newest first, once the newest is released (or at the deadline)."""
    while time.monotonic() < deadline:
        rows = mine(student)["submissions"]
        if rows[0]["released_at"]:
            return rows
        time.sleep(2)
    return mine(student)["submissions"]


def test_a_hub_restarted_mid_grade_loses_nothing_and_grades_and_releases_once(cast, autograde_hub, artifacts):
    """The instructor raises the daily limit and restarts the hub (``./kit hub stop``, ``start``),
    the second student submits again, and the hub is restarted while that grading runs. Every
    row from before is still there, unchanged; the new submission ends graded once, released
    once, and the student fetches its feedback."""
    settings, passwords = autograde_hub
    _, _, teacher, (_, second) = cast
    before = ok(service(teacher, "api/queue"))["recent"]
    log = open(artifacts / "onsubmit-hub-restarts.txt", "w")
    unlimited = _unlimited(settings)

    def restart():
        control.stop(unlimited, out=log)
        control.start(unlimited, out=log)
        return Person(unlimited, second.name, passwords[second.name]).login()

    student = restart()
    theirs = [e for e in before if e["student"] == second.name]
    assert _kept(ok(service(student, "api/submissions"))["submissions"]) == _kept(theirs)
    student.start_server()
    ok(student.server("POST", "assignments/submit", data=course_args(unlimited)))
    deadline = time.monotonic() + WAIT_SECONDS
    newest = _wait_until_grading(student, 15, deadline)
    assert newest["state"] == "grading", newest
    student = restart()  # mid-grade: the service is stopped with the hub, and starts again with it
    rows = _once_released(student, deadline)
    log.close()
    assert rows[0]["timestamp"] == newest["timestamp"] and rows[0]["state"] == "graded" and rows[0]["released_at"], rows
    assert _kept(rows[1:]) == _kept(theirs)  # nothing lost, nothing changed
    assert sum(r["timestamp"] == newest["timestamp"] for r in rows) == 1
    released = _released(settings)
    assert len(released) == 3, released  # one each for the three graded submissions: none twice
    student.start_server()
    assert _feedback(student, unlimited) == (rows[0]["score"], rows[0]["max_score"])


def test_the_service_sigkilled_mid_grade_is_started_again_and_grades_and_releases_once(cast, autograde_hub, pages):
    """The second student submits once more; while it grades, every process of the service (its
    root launcher, the course account's process, the pool and nbgrader under them; the sandbox
    goes with its parent) is SIGKILLed at once. JupyterHub starts the service again; the new one
    finds the row left grading, grades it once and releases it once, and the student fetches it."""
    settings, passwords = autograde_hub
    unlimited = _unlimited(settings)
    _, _, _, (_, second) = cast
    student = Person(unlimited, second.name, passwords[second.name]).login()
    before = mine(student)["submissions"]
    released_before = _released(settings)
    log_before = Path(settings.log_file).stat().st_size
    student.start_server()
    ok(student.server("POST", "assignments/submit", data=course_args(unlimited)))
    deadline = time.monotonic() + WAIT_SECONDS
    newest = _wait_until_grading(student, 15, deadline)
    assert newest["state"] == "grading", newest
    marker = f"JUPYTERHUB_SERVICE_NAME={settings.autograde_service}".encode()
    doomed = _marked(marker)
    killed = set(_service_processes(settings))
    assert killed and killed <= set(doomed), (killed, doomed)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while time.monotonic() < deadline:  # JupyterHub polls its services and starts one that exited
        again = set(_service_processes(settings))
        if len(again) == 2 and not again & killed:
            break
        time.sleep(1)
    assert len(again) == 2 and not again & killed, (killed, again)
    rows = _once_released(student, deadline)
    assert rows[0]["timestamp"] == newest["timestamp"] and rows[0]["state"] == "graded" and rows[0]["released_at"], rows
    assert sum(r["timestamp"] == newest["timestamp"] for r in rows) == 1
    assert _kept(rows[1:]) == _kept(before)
    released = _released(settings)
    assert len(released) == len(released_before) + 1, released  # this one, once
    with open(settings.log_file, "rb") as log:
        log.seek(log_before)
        since = log.read().decode(errors="replace")
    assert f"Service {settings.autograde_service} exited with status -9" in since, since[-3000:]
    assert "recovered 1 submission(s) left grading by a stopped service" in since, since[-3000:]
    student.start_server()
    assert _feedback(student, unlimited) == (rows[0]["score"], rows[0]["max_score"])
    browser = pages(second.name)
    browser.page.goto(settings.autograde_url)
    if browser.page.locator("#username_input").count():  # the hub's login, if two restarts ended the session
        _log_in(browser.page, settings, second.name, passwords[second.name])
    browser.page.locator(".state-graded").first.wait_for()
    shoot(browser, f"onsubmit-06-{second.name}-graded-after-sigkill.png")

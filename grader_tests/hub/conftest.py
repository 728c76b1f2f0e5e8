"""The course on a real JupyterHub: one hub per test session, people, and a real browser.

The hub is started by the project's own code (hub/control.py, what ``./kit hub start``
runs) with the course's test roster, under a fresh temporary root that holds the hub's
state, the exchange and every account's home; at the end it is stopped, nothing it started
is left running, and the root is removed (the accounts stay). Needs root (accounts, PAM,
the local process spawner); hub/install.sh installs the rest the first time.

The tests in a module marked ``incremental`` are the steps of one loop, in file order:
after a step fails, the later ones are reported as expected failures, not as new errors.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from people import Person  # grader_tests/hub/people.py (pytest puts this folder on sys.path)
from running import course_hub  # grader_tests/hub/running.py

PORT = 18050  # the hub takes 18050-18053 and 18060-18062
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium that stays off the network: no first-run, sync, component or quic traffic.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = []


def pytest_configure(config):
    config.addinivalue_line("markers", "incremental: the module's tests are the steps of one loop")


def pytest_runtest_makereport(item, call):
    if "incremental" in item.keywords and call.excinfo is not None and call.when == "call":
        item.parent._failed_step = item


def pytest_runtest_setup(item):
    if "incremental" in item.keywords:
        failed = getattr(item.parent, "_failed_step", None)
        if failed is not None:
            pytest.xfail(f"an earlier step failed ({failed.name})")


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS:
        terminalreporter.section("course hub screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Screenshots and the hub's log, kept after the run: in pytest's temporary folder (it keeps
    the last 3 runs), or in $CNNKIT_HUB_ARTIFACTS when set (CI can keep that folder)."""
    chosen = os.environ.get("CNNKIT_HUB_ARTIFACTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("hub-artifacts")


@pytest.fixture(scope="session")
def hub(artifacts):
    """A running course hub: settings and every person's password."""
    # autograde=False: this loop is the instructor's own collect and autograde (test_onsubmit_hub.py has the service)
    with course_hub(artifacts, "hub", port=PORT, course_id="cnnkit-hubtest", autograde=False, instructors=("hubtest-teacher",),
                    students=("hubtest-student1", "hubtest-student2")) as running:
        yield running


@pytest.fixture(scope="session")
def settings(hub):
    return hub[0]


@pytest.fixture(scope="session")
def people(hub):
    """Everyone, logged in over HTTP with their password, holding an API token."""
    settings, passwords = hub
    return {name: Person(settings, name, passwords[name]).login() for name in settings.users}


class Browser:
    """One person's Chromium: a fresh profile, logged in to the hub through its login page."""

    def __init__(self, driver, settings, name, password, shots):
        self.settings, self.name, self.password, self.shots = settings, name, password, shots
        self.profile = tempfile.mkdtemp(prefix=f"chromium-{name}-")
        self.context = driver.chromium.launch_persistent_context(
            self.profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        self.context.set_default_timeout(60_000)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()

    def login(self):
        page = self.page
        page.goto(f"{self.settings.url}hub/login")
        page.fill("#username_input", self.name)
        page.fill("#password_input", self.password)
        page.click("#login_submit")
        page.wait_for_url("**/lab**", timeout=120_000)  # the hub starts their server, then JupyterLab
        return self

    def open_assignments(self, page=None):
        """JupyterLab's Assignments tab (menu Nbgrader > Assignment List), unless it is open."""
        page = page or self.page
        if not page.locator("#refresh_assignments_list").is_visible():
            page.get_by_text("Nbgrader", exact=True).click()
            page.get_by_text("Assignment List").click()
        page.locator("#refresh_assignments_list").wait_for()
        return page

    def screenshot(self, name, page=None):
        path = self.shots / name
        (page or self.page).screenshot(path=str(path))
        SCREENSHOTS.append(path)
        return path

    def close(self):
        self.context.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browsers(playwright, hub, artifacts):
    """browsers(name) -> that person's Browser, logged in; each made once per session."""
    settings, passwords = hub
    made = {}

    def get(name):
        if name not in made:
            made[name] = Browser(playwright, settings, name, passwords[name], artifacts).login()
        return made[name]

    yield get
    for browser in made.values():
        browser.close()

"""Every setting the kit reads from the environment, in one table, and the resolvers they share.

Each row says what the setting is, its default, whether every machine that grades must agree
on it (``shared``: a cluster's workers, the hub's servers, the formgrader) or it is local to
one process, and which modules read it. ``docs/settings.md`` is generated from this table
(``python -m cnnkit.settings --write``) and a fast test keeps it, and the code's reads, in
step with it: a setting read anywhere in the kit but missing here fails that test.

This module sits in ``cnnkit``, the package every environment has (students' kernels, the
grader, the kit's tools, the hub), and imports nothing of the kit.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str          # as documented; "" means unset
    shared: bool          # every machine that grades must agree on it
    readers: tuple        # the modules that read it
    what: str
    # A grading job carries it to the worker (``cnnkit_tools.grade.job.shared_environment``),
    # so a worker on another machine, or the hub's root launcher, grades by the client's rule.
    # Only settings that decide a grade and name no path of one machine travel.
    travels: bool = False
    # The course hub (``./kit hub start``) passes the value it was started with to its grader
    # and autograding services (``hub.settings.GRADER_ENV``): a grading setting of the
    # instructor's. The hub sets the data, budget, course and exchange itself.
    to_grader: bool = False


SETTINGS = (
    # ---- data and budget: students' kernels and the grader
    Setting("CIFAR10_DIR", "Keras's cache; ./kit builds the offline stand-in", True,
            ("cnnkit.data", "cnnkit_grader.boundary.sandbox", "cnnkit_grader.plugins.feedback", "hub.settings", "kit"),
            "the folder holding cifar-10-batches-py/, or that folder itself"),
    Setting("CNNKIT_BUDGET", "student; grading under nbgrader", True,
            ("cnnkit.budget", "cnnkit_grader.boundary.sandbox", "cnnkit_tools.report.collect", "hub.settings"),
            "the training budget by name: student, grading or smoke", travels=True),
    Setting("NBGRADER_EXECUTION", "set by nbgrader", False, ("cnnkit.budget",),
            "nbgrader sets it while it runs a notebook; the budget is then grading"),
    # ---- nbgrader: the course's config and the kit's commands
    Setting("NBGRADER_DB_URL", "sqlite:///COURSE/gradebook.db", True,
            ("nbgrader_config.py", "cnnkit_tools.grade.batch", "cnnkit_tools.report.gradebook",
             "cnnkit_tools.course", "hub.settings"),
            "the gradebook (SQLite or PostgreSQL), resolved once by `cnnkit.settings.gradebook_url`", to_grader=True),
    Setting("NBGRADER_COURSE_ID", "cnn-compile-train", True, ("nbgrader_config.py", "hub.coursefolder"),
            "the course id", travels=True),
    Setting("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange", True,
            ("nbgrader_config.py", "hub/jupyter/common/nbgrader_config.py"),
            "nbgrader's shared exchange folder"),
    Setting("CNNKIT_NGSHARE_URL", "", True, ("cnnkit_grader.plugins.exchange",),
            "ngshare's API URL: nbgrader's exchange is then ngshare, with the kit's collect", travels=True),
    Setting("CNNKIT_CELL_TIMEOUT", "600", True,
            ("nbgrader_config.py", "hub/jupyter/common/nbgrader_config.py", "hub.settings"),
            "seconds one cell may run when nbgrader executes a notebook", travels=True, to_grader=True),
    # ---- the sandbox and the grading run
    Setting("CNNKIT_SANDBOX", "on", True, ("cnnkit_grader.boundary.sandbox", "kit", "hub.settings"),
            "off runs students' code unsandboxed (the grader then says so in every notebook)", to_grader=True),
    Setting("CNNKIT_SANDBOX_USERS", "nbgrader-sandbox-1 ... -8", False,
            ("cnnkit_grader.boundary.sandbox", "kit", "hub.settings"),
            "the slot accounts, comma-separated (root only)", to_grader=True),
    Setting("CNNKIT_SANDBOX_CGROUP", "required", False, ("cnnkit_grader.boundary.cgroups", "hub.settings"),
            "optional lets grading run without a control group per slot (logged)", to_grader=True),
    Setting("CNNKIT_THREADS", "", False, ("cnnkit_grader.boundary.sandbox", "cnnkit_tools.grade.job", "hub.settings"),
            "TensorFlow's threads per submission (unset: TensorFlow decides)", to_grader=True),
    Setting("CNNKIT_NOTEBOOK_TIMEOUT", "1200", False, ("cnnkit_grader.plugins.execute", "hub.settings"),
            "seconds a whole notebook may run", to_grader=True),
    Setting("CNNKIT_PROBE_TIMEOUT", "300", False, ("cnnkit_grader.plugins.execute", "hub.settings"),
            "seconds the grader's probe may run", to_grader=True),
    # ---- ./kit grade: a class, on a local pool or a Dask cluster
    Setting("CNNKIT_GRADE_TIMEOUT", "14400", False, ("cnnkit_tools.grade.job", "cnnkit_tools.grade.task", "hub.settings"),
            "seconds one submission's grading task may take", to_grader=True),
    Setting("CNNKIT_GRADE_PORTS", "", False, ("cnnkit_tools.grade.engine", "hub.settings"),
            "a port range (A-B) for the local pool", to_grader=True),
    Setting("CNNKIT_GRADE_MAX_SUBMISSION_BYTES", "209715200", False, ("cnnkit_tools.grade.files",),
            "the largest submission folder ./kit grade sends"),
    Setting("CNNKIT_GRADE_TLS_CA", "", False, ("cnnkit_tools.grade.tls",), "the cluster's CA (PEM)"),
    Setting("CNNKIT_GRADE_TLS_CERT", "", False, ("cnnkit_tools.grade.tls",), "the client's certificate"),
    Setting("CNNKIT_GRADE_TLS_KEY", "", False, ("cnnkit_tools.grade.tls",), "the client's key"),
    # ---- grading on submit (python -m cnnkit_tools.onsubmit, docs/onsubmit.md)
    Setting("CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY", "3", False, ("cnnkit_tools.onsubmit.policy", "hub.settings"),
            "graded attempts per student in any 24 hours; 0 for no limit", to_grader=True),
    Setting("CNNKIT_ONSUBMIT_COOLDOWN_MINUTES", "10", False, ("cnnkit_tools.onsubmit.policy", "hub.settings"),
            "minutes between a student's graded attempts; 0 for none", to_grader=True),
    Setting("CNNKIT_ONSUBMIT_FEEDBACK_AT", "", False, ("cnnkit_tools.onsubmit.policy", "hub.settings"),
            "an ISO 8601 time (UTC unless it says) before which graded feedback is held; unset: at once",
            to_grader=True),
    # ---- the course hub (./kit hub, docs/hub.md)
    Setting("CNNKIT_HUB_ROOT", "/srv/cnnkit-hub", False, ("hub.settings",), "the hub's state"),
    Setting("CNNKIT_HUB_PORT", "18000", False, ("hub.settings",), "the hub's public port"),
    Setting("CNNKIT_HUB_DOMAIN", "localhost", False, ("hub.settings",),
            "people and services get subdomains of it; empty turns them off"),
    Setting("CNNKIT_HUB_COURSE", "cnn-compile-train", False, ("hub.settings",), "the hub's course id"),
    Setting("CNNKIT_HUB_INSTRUCTORS", "instructor", False, ("hub.settings",), "instructor accounts"),
    Setting("CNNKIT_HUB_STUDENTS", "student1 student2", False, ("hub.settings",), "student accounts"),
    Setting("CNNKIT_HUB_HOMES", "/home", False, ("hub.settings",), "where the accounts' homes are"),
    Setting("CNNKIT_HUB_ENV", "/opt/cnnkit-hub/venv", False, ("hub.settings",),
            "the course's Python environment"),
    Setting("CNNKIT_HUB_EXCHANGE", "folder", False, ("hub.settings",), "folder or ngshare"),
    Setting("CNNKIT_HUB_AUTOGRADE", "on", False, ("hub.settings",),
            "off: the hub runs no on-submit autograding service (autograde-<course>)"),
    Setting("CNNKIT_HUB_AUTOGRADE_INTERVAL", "10", False, ("hub.settings",),
            "seconds between the autograding service's passes (collect, grade, release)"),
    Setting("CNNKIT_HUB_SETTINGS", "set by ./kit hub", False, ("hub.settings", "hub/jupyterhub_config.py"),
            "the settings file the hub's config reads"),
    Setting("CNNKIT_HUB_SUBDOMAINS", "set by the hub", False,
            ("hub/jupyterhub_config.py", "hub/jupyter/grader/jupyter_server_config.py"),
            "whether the formgrader is on a subdomain of its own"),
    # ---- the kit's own tests
    Setting("CNNKIT_HUB_ARTIFACTS", "pytest's temporary folder", False, ("grader_tests/hub/conftest.py",),
            "where the hub tests keep screenshots, pages and the hub's log"),
    Setting("CNNKIT_CHROMIUM", "/usr/bin/chromium", False,
            ("grader_tests/pipeline/test_hostile_outputs.py", "grader_tests/pipeline/test_report_demo.py"),
            "the headless Chromium the page tests render with"),
)
# Not a setting but a rule every copy of an assignment shares: what nbgrader's
# CourseDirectory.ignore skips (nbgrader_config.py) and what ./kit grade never packs into a job:
# checkpoints, caches, feedback and model files (models must come from the grading run).
COPY_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.keras", "*.h5")

BY_NAME = {setting.name: setting for setting in SETTINGS}
TRAVELLING = frozenset(setting.name for setting in SETTINGS if setting.travels)


def default(name):
    """A setting's default as the table gives it: the one place code takes a default from, so
    the documented value is the value used."""
    return BY_NAME[name].default


def gradebook_url(course_dir, environ=os.environ):
    """The course's gradebook: $NBGRADER_DB_URL, else COURSE/gradebook.db (SQLite).

    The one place the kit's commands and the course's nbgrader_config.py find it, so they never
    read different gradebooks. ``environ={}`` gives the course's own SQLite file.
    """
    return environ.get("NBGRADER_DB_URL") or f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"


def markdown():
    """docs/settings.md: the table, for people."""
    lines = ["# Settings", "",
             "Every setting the kit reads from the environment. Generated from `cnnkit/settings.py`",
             "(`python -m cnnkit.settings --write`); do not edit by hand. *Shared*: every machine that",
             "grades (a cluster's workers, the hub's servers and formgrader) must see the same value.", "",
             "*Sent with a job*: a grading job carries the client's value to the worker that grades it",
             "(a cluster's worker, the hub's root launcher); the rest each machine keeps.", "",
             "*Hub to grader*: the course hub (`./kit hub start`) passes the value it was started with",
             "to its grader and autograding services.", "",
             "| name | default | shared | sent with a job | hub to grader | read by | what |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        lines.append(f"| `{s.name}` | {s.default or '(unset)'} | {'yes' if s.shared else 'no'} | "
                     f"{'yes' if s.travels else 'no'} | {'yes' if s.to_grader else 'no'} | "
                     f"{', '.join(f'`{r}`' for r in s.readers)} | {s.what} |")
    return "\n".join(lines) + "\n"


DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"

if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        DOC.write_text(markdown())
    else:
        sys.stdout.write(markdown())

"""One settings table (cnnkit/settings.py): every setting the code reads is in it, once, and
docs/settings.md is the table; the gradebook is found in one place."""

import re
from pathlib import Path

from cnnkit import settings
from cnnkit_tools import course

ROOT = Path(__file__).resolve().parents[2]
# Where the kit reads its environment: its packages, the course's and the hub's configs, ./kit,
# and its own tests.
CODE = [p for folder in ("cnnkit", "cnnkit_grader", "cnnkit_tools", "hub", "grader_tests")
        for p in (ROOT / folder).rglob("*.py") if "node_modules" not in p.parts] + \
    [ROOT / "nbgrader_config.py", ROOT / "kit"]
NAME = re.compile(r"\b(CNNKIT_[A-Z0-9_]*[A-Z0-9]|CIFAR10_DIR|NBGRADER_(?:DB_URL|COURSE_ID|EXCHANGE_ROOT|EXECUTION))\b")


def names_in_code():
    found = {}
    for path in CODE:
        if path.name == "settings.py" and path.parent.name == "cnnkit":
            continue
        for name in NAME.findall(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_setting_the_code_names_is_in_the_table():
    missing = {name: sorted(where) for name, where in names_in_code().items() if name not in settings.BY_NAME}
    assert not missing, f"settings read in the code but missing from cnnkit/settings.py: {missing}"


def test_every_row_is_named_in_the_code_and_its_readers_exist():
    named = names_in_code()
    assert len(settings.BY_NAME) == len(settings.SETTINGS), "a setting is in the table twice"
    unused = [s.name for s in settings.SETTINGS if s.name not in named]
    assert not unused, f"rows no code reads: {unused}"
    for setting in settings.SETTINGS:
        for reader in setting.readers:
            path = ROOT / (reader if "/" in reader or reader.endswith(".py") or reader == "kit"
                           else reader.replace(".", "/") + ".py")
            assert path.exists(), f"{setting.name}: no module {reader}"


def test_docs_settings_md_is_the_table(golden):
    assert (ROOT / "docs" / "settings.md").read_text() == settings.markdown(), \
        "docs/settings.md is out of date: python -m cnnkit.settings --write"


def test_the_gradebook_is_found_in_one_place(tmp_path):
    env = {"NBGRADER_DB_URL": "postgresql://nbgrader@127.0.0.1/course"}
    assert settings.gradebook_url(tmp_path, env) == env["NBGRADER_DB_URL"]
    assert settings.gradebook_url(tmp_path, {}) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert course.db_url(tmp_path) == settings.gradebook_url(tmp_path, {})
    # and nobody builds it by hand anymore
    built = [str(p.relative_to(ROOT)) for p in CODE
             if "/ 'gradebook.db'}" in p.read_text() and p != ROOT / "cnnkit" / "settings.py"
             and "grader_tests" not in p.parts]
    assert built == [], built


def test_the_defaults_the_grader_uses_are_the_tables(monkeypatch):
    """The documented default is the value used: each timeout and the course id, with the
    environment unset, comes from the table and nowhere else."""
    from traitlets.config.loader import PyFileConfigLoader

    from cnnkit_grader.plugins.execute import GuardedExecute
    from cnnkit_tools.grade import task

    for name in ("CNNKIT_NOTEBOOK_TIMEOUT", "CNNKIT_PROBE_TIMEOUT", "CNNKIT_CELL_TIMEOUT", "NBGRADER_COURSE_ID"):
        monkeypatch.delenv(name, raising=False)
    execute = GuardedExecute.__new__(GuardedExecute)
    assert execute._notebook_timeout_default() == int(settings.default("CNNKIT_NOTEBOOK_TIMEOUT")) == 1200
    assert execute._probe_timeout_default() == int(settings.default("CNNKIT_PROBE_TIMEOUT")) == 300
    assert task.DEFAULT_TIMEOUT == int(settings.default("CNNKIT_GRADE_TIMEOUT")) == 4 * 3600
    config = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()
    assert config.Execute.timeout == int(settings.default("CNNKIT_CELL_TIMEOUT")) == 600
    assert config.CourseDirectory.course_id == settings.default("NBGRADER_COURSE_ID")

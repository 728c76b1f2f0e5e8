"""The hub passes the grader only settings the grader reads: a misspelt name is silently ignored."""

import ast
import re
from pathlib import Path

from cnnkit import settings as kit_settings
from hub import settings

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"CNNKIT_[A-Z0-9_]*[A-Z0-9]")
# Everything that runs when the grader or autograding service grades: nbgrader's config files,
# the grader, the package the sandboxed notebook imports, and the on-submit loop and its pool.
GRADER_CODE = ["nbgrader_config.py", "hub/jupyter/common/nbgrader_config.py", "cnnkit_grader", "cnnkit",
               "cnnkit_tools/onsubmit", "cnnkit_tools/grade"]


def names_in(path):
    """Every whole CNNKIT_* name written as a string in the Python code under path."""
    path = ROOT / path
    found = set()
    for source in [path] if path.is_file() else sorted(path.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                found.add(node.value)
    return found


def test_the_grader_reads_names_from_its_code():
    read = set().union(*(names_in(p) for p in GRADER_CODE))
    assert {"CNNKIT_SANDBOX", "CNNKIT_SANDBOX_USERS", "CNNKIT_CELL_TIMEOUT", "CNNKIT_BUDGET"} <= read


def test_every_cnnkit_setting_the_hub_passes_is_one_the_grader_reads():
    read = set().union(*(names_in(p) for p in GRADER_CODE))
    passed = {name for name in settings.GRADER_ENV if name.startswith("CNNKIT_")}
    assert passed, "the hub passes no CNNKIT_* setting to the grader"
    assert passed <= read, f"the hub passes {sorted(passed - read)}, which the grader never reads"


def test_the_hub_passes_the_sandbox_users_to_the_grader_service():
    env = {"CNNKIT_SANDBOX_USERS": "slot-a,slot-b", "CNNKIT_HUB_ROOT": "/nonexistent"}
    assert settings.Settings.from_environment(env).grader_env == {"CNNKIT_SANDBOX_USERS": "slot-a,slot-b"}


def test_every_grading_setting_the_hub_was_started_with_reaches_its_grader():
    """The table's to_grader rows, every one: a time limit set for the hub was once dropped."""
    from hub import coursefolder

    wanted = {s.name: f"value-{n}" for n, s in enumerate(kit_settings.SETTINGS) if s.to_grader}
    assert {"CNNKIT_NOTEBOOK_TIMEOUT", "CNNKIT_SANDBOX_USERS", "CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY"} <= set(wanted)
    hub = settings.Settings.from_environment({**wanted, "CNNKIT_HUB_ROOT": "/nonexistent", "HOME": "/root"})
    grader = coursefolder.grader_environment(hub)
    assert {k: grader.get(k) for k in wanted} == wanted
    assert "CNNKIT_HUB_PORT" not in hub.grader_env


def test_the_grader_sees_the_course_data_budget_and_exchange_the_students_servers_see(tmp_path):
    from hub import coursefolder

    hub = settings.Settings(root=str(tmp_path), cifar10_dir="/srv/cifar10", budget="smoke",
                            exchange_kind="ngshare", grader_env={"CNNKIT_SANDBOX_USERS": "slot-a"})
    grader = coursefolder.grader_environment(hub)
    assert (grader["CIFAR10_DIR"], grader["CNNKIT_BUDGET"], grader["NBGRADER_COURSE_ID"]) == (
        "/srv/cifar10", "smoke", "cnn-compile-train")
    assert grader["CNNKIT_NGSHARE_URL"] == hub.ngshare_url and grader["CNNKIT_SANDBOX_USERS"] == "slot-a"
    assert grader["NBGRADER_EXCHANGE_ROOT"] == str(tmp_path / "exchange")
    assert {k: v for k, v in grader.items() if k in hub.course_env} == hub.course_env
    assert hub.course_env["MALLOC_ARENA_MAX"] == "2"  # every student's kernel starts with it
    plain = coursefolder.grader_environment(settings.Settings(root=str(tmp_path)))
    assert not {"CIFAR10_DIR", "CNNKIT_BUDGET", "CNNKIT_NGSHARE_URL"} & set(plain)


def test_the_hub_takes_cifar10_dir_in_either_form_cnnkit_data_does(tmp_path, monkeypatch):
    """CIFAR10_DIR may name cifar-10-batches-py itself or the folder holding it. Where the
    course's account cannot read it (a clone under /root), ./kit hub start copies the batches
    into the hub's root, readable by all; before, the batches folder itself made it crash."""
    import stat

    from hub import coursefolder

    holder = tmp_path / "private"
    batches = holder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (batches / name).write_bytes(name.encode())
    holder.chmod(0o700)
    monkeypatch.setattr(coursefolder, "readable_by", lambda user, path: False)  # the course's account cannot
    for given in (holder, batches):
        root = tmp_path / f"hub-{given.name}"
        root.mkdir()
        used = Path(coursefolder.ensure_data(settings.Settings(root=str(root), cifar10_dir=str(given))))
        assert used == root / "data"
        assert (used / "cifar-10-batches-py" / "test_batch").read_bytes() == b"test_batch"
        assert all(stat.S_IMODE(p.stat().st_mode) in (0o755, 0o644) for p in [used, *used.rglob("*")])


def test_the_hub_with_nothing_set_uses_the_settings_tables_defaults():
    """./kit hub start with no CNNKIT_HUB_* set: each value is the table's default (docs/settings.md)."""
    from cnnkit.settings import default

    hub = settings.Settings.from_environment({})
    assert (hub.root, str(hub.port), hub.domain, hub.course_id, hub.home_base, hub.exchange_kind) == (
        default("CNNKIT_HUB_ROOT"), default("CNNKIT_HUB_PORT"), default("CNNKIT_HUB_DOMAIN"),
        default("CNNKIT_HUB_COURSE"), default("CNNKIT_HUB_HOMES"), default("CNNKIT_HUB_EXCHANGE"))
    assert " ".join(hub.instructors) == default("CNNKIT_HUB_INSTRUCTORS")
    assert " ".join(hub.students) == default("CNNKIT_HUB_STUDENTS")
    assert hub.python_bin == default("CNNKIT_HUB_ENV") + "/bin"
    assert hub.autograde_interval == float(default("CNNKIT_HUB_AUTOGRADE_INTERVAL")) and hub.autograde
    assert hub == settings.Settings(root=default("CNNKIT_HUB_ROOT"))

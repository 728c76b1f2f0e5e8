"""The hub's on-submit service refuses to start as root when another account could change the
code its root launcher imports, and the launcher drops the course accounts' Jupyter config
(issue 14: a root process that imports a file another account writes runs that account's code)."""

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnkit_tools.grade import task
from cnnkit_tools.onsubmit import rootonly

NOBODY = pwd.getpwnam("nobody")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")


@pytest.fixture
def tree(tmp_path):
    """A package folder as a root clone makes it: root's, 0755 folders and 0644 files."""
    root = tmp_path / "site"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "mod.py").write_text("X = 1\n")
    (root / "top.py").write_text("")
    (root / ".git").mkdir()  # hidden: nothing is imported from it
    for path in [tmp_path, root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


@needs_root
def test_a_tree_only_root_writes_is_safe(tree):
    assert rootonly.unsafe_code([str(tree)]) == []


@needs_root
@pytest.mark.parametrize("change, why", [
    (lambda p: os.chmod(p, 0o646), "anyone may write it"),
    (lambda p: os.chown(p, NOBODY.pw_uid, 0), "owned by nobody"),
    (lambda p: (os.chown(p, 0, NOBODY.pw_gid), os.chmod(p, 0o664)), f"group {NOBODY.pw_gid} may write it"),
])
def test_a_file_another_account_can_change_is_named(tree, change, why):
    module = tree / "pkg" / "sub" / "mod.py"
    change(module)
    assert rootonly.unsafe_code([str(tree)]) == [(str(module), why)]


@needs_root
def test_a_link_is_judged_by_what_it_leads_to(tree, tmp_path):
    theirs = tmp_path / "theirs.py"
    theirs.write_text("")
    os.chown(theirs, NOBODY.pw_uid, 0)
    (tree / "pkg" / "linked.py").symlink_to(theirs)
    assert rootonly.unsafe_code([str(tree)]) == [(str(theirs), "owned by nobody")]


@needs_root
def test_hidden_entries_are_not_walked(tree):
    os.chmod(tree / ".git", 0o777)
    assert rootonly.unsafe_code([str(tree)]) == []


@needs_root
def test_a_folder_above_that_others_may_write_is_named_unless_sticky(tree):
    above = tree.parent
    os.chmod(above, 0o777)
    assert rootonly.unsafe_code([str(tree)]) == [(str(above), "anyone may write it")]
    os.chmod(above, 0o1777)  # like /tmp: others add names, but cannot replace root's
    assert rootonly.unsafe_code([str(tree)]) == []


def test_the_launcher_drops_the_course_accounts_jupyter_config():
    environ = {"JUPYTER_CONFIG_PATH": "/srv/hub/jupyter/grader", "JUPYTER_PATH": "/x", "IPYTHONDIR": "/y",
               "PYTHONSTARTUP": "/z.py", "NBGRADER_COURSE_ID": "cnn", "PATH": "/usr/bin"}
    rootonly.drop_foreign_config(environ)
    assert environ == {"NBGRADER_COURSE_ID": "cnn", "PATH": "/usr/bin"}


@needs_root
def test_the_service_refuses_to_start_as_root_from_a_kit_another_account_can_change(tmp_path):
    """The service as the hub starts it (web.py --owner), from a copy of the kit in which one
    module of the grader is writable by anyone: it names that file and starts nothing."""
    kit = tmp_path / "kit"
    for name in ("cnnkit", "cnnkit_grader", "cnnkit_tools"):
        shutil.copytree(task.KIT_ROOT / name, kit / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [tmp_path, kit, *kit.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    planted = kit / "cnnkit_grader" / "judge" / "rules.py"
    os.chmod(planted, 0o666)
    env = {**os.environ, "PYTHONPATH": str(kit), "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "cnnkit_tools.onsubmit.web", str(tmp_path / "course"), "a",
         "--instructors-group", "formgrade-x", "--hub-url", "http://127.0.0.1:9", "--owner", "nobody"],
        cwd=kit, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{planted}: anyone may write it" in done.stderr
    assert "chmod -R go-w" in done.stderr
    os.chmod(planted, 0o644)
    assert rootonly.unsafe_code([str(kit)]) == []

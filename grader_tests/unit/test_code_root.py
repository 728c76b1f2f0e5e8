"""Root never runs course code another account can change: a course folder that belongs to
the hub's grader account is graded, as root, with the kit's own config and grader."""

import os

import pytest

from cnnkit_tools import course

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the rule is root's")
NOBODY = 65534
TAMPERED = "import os; os.system('touch /tmp/cnnkit-ran-as-root')  # the grader account's edit\n"


def _course(tmp_path, owner):
    directory = course.copy_course(tmp_path / "course")
    (directory / "nbgrader_config.py").write_text(TAMPERED)
    if owner:
        for path in (directory, directory / "nbgrader_config.py", *(directory / "cnnkit_grader").rglob("*")):
            os.lchown(path, owner, owner)
    return directory


def test_a_course_another_account_owns_is_graded_with_the_kits_code(tmp_path):
    directory = _course(tmp_path, NOBODY)
    assert course.code_root(directory) == course.ROOT
    copied = course.copy_course(tmp_path / "scratch", root=directory)
    assert (copied / "nbgrader_config.py").read_text() == (course.ROOT / "nbgrader_config.py").read_text()
    assert (copied / "source").is_dir()  # the course's own assignment, still


def test_a_grader_file_someone_else_may_write_is_not_run_either(tmp_path):
    directory = _course(tmp_path, None)
    module = next((directory / "cnnkit_grader").rglob("*.py"))
    os.chmod(module, 0o666)
    assert course.code_root(directory) == course.ROOT


def test_a_course_only_root_can_change_keeps_its_own_config(tmp_path):
    directory = _course(tmp_path, None)
    os.chmod(directory, 0o755)
    assert course.code_root(directory) == directory
    copied = course.copy_course(tmp_path / "scratch", root=directory)
    assert (copied / "nbgrader_config.py").read_text() == TAMPERED

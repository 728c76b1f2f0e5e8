"""The service (root) gives what it made in the course folder back to the grader account, and
never through a link that account swaps in while it walks (a race the course's owner controls)."""

import ctypes
import os
import pwd
import threading

import pytest

from cnnkit_tools.onsubmit.web import hand_back

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")
OWNER = "nobody"
RENAME_EXCHANGE = 2


def _exchange(libc, a, b):
    libc.renameat2(-100, a.encode(), -100, b.encode(), RENAME_EXCHANGE)  # AT_FDCWD


def test_root_made_files_go_back_and_a_swapped_in_link_is_never_followed(tmp_path):
    course, elsewhere = tmp_path / "course", tmp_path / "elsewhere"
    (course / "d").mkdir(parents=True)
    for i in range(20):
        (course / "d" / f"f{i}").write_text("made by the loop")
    elsewhere.mkdir()
    secret = elsewhere / "root-only"
    secret.write_text("root's")
    for i in range(20):
        (elsewhere / f"f{i}").write_text("root's")
    (course / "L").symlink_to(elsewhere)
    nobody = pwd.getpwnam(OWNER).pw_uid
    for path in (course, course / "d", course / "L"):
        os.lchown(path, nobody, nobody)  # the course's owner owns its folders

    libc = ctypes.CDLL(None, use_errno=True)
    stop = threading.Event()

    def swap():  # the owner's side: d and the link L trade places, over and over
        while not stop.is_set():
            _exchange(libc, str(course / "d"), str(course / "L"))

    attacker = threading.Thread(target=swap)
    attacker.start()
    try:
        step = hand_back(str(course), OWNER)
        for _ in range(300):
            step()
            assert all(p.stat().st_uid == 0 for p in (elsewhere, secret, *elsewhere.iterdir())), \
                "root's chown went through the swapped-in link"
    finally:
        stop.set()
        attacker.join()
    folder = course / "d" if not (course / "d").is_symlink() else course / "L"
    for made in folder.iterdir():
        os.lchown(made, 0, 0)  # the loop makes more files as root
    step()
    assert {p.stat().st_uid for p in folder.iterdir()} == {nobody}  # what the loop made went back

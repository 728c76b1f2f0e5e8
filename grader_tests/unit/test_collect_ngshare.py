"""The ngshare collect writes only plain files, inside the submission's folder, within limits.

ngshare_exchange writes whatever names the server hands it with ``os.path.join(dest, path)``;
the kit's ``SafeNgshareCollect`` writes them with ``files.write_encoded``. These run the real
class (from the real ngshare_exchange) on the file lists a hostile submission, or a server
that passes one on, could hold. grader_tests/hub/test_ngshare.py runs it through a real hub.
"""

import base64
import logging
import os

import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory

from cnnkit_grader.boundary import files

os.environ.setdefault("USER", "root")  # ngshare_exchange reads it when imported
from cnnkit_grader.plugins.exchange_ngshare import SafeNgshareCollect  # noqa: E402

NOTEBOOK = "compile_and_train.ipynb"
LIMITS = files.Limits(files=5, file_bytes=1000, total_bytes=1500)


def encoded(path, data=b"{}"):
    return {"path": path, "content": base64.encodebytes(data).decode()}


HOSTILE = {
    "../outside.txt": "not a plain relative name",
    "/etc/cron.d/x": "not a plain relative name",
    "a/../../outside.txt": "not a plain relative name",
    "./" + NOTEBOOK: "not a plain relative name",
    "a//b": "not a plain relative name",
    "a\\..\\b": "not a plain relative name",
    "/".join(["d"] * 30) + "/f": "nested too deep",
}


@pytest.mark.parametrize("path", sorted(HOSTILE))
def test_a_name_that_leaves_the_folder_is_refused_and_written_nowhere(tmp_path, path):
    dest = tmp_path / "course" / "submitted" / "alice" / "a1"
    dest.mkdir(parents=True)
    taken = files.write_encoded([encoded(NOTEBOOK), encoded(path, b"pwned")], dest, LIMITS)
    assert taken.names == [NOTEBOOK]
    assert taken.refused == [f"{repr(path)[:80]} ({HOSTILE[path]})"]
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [f"course/submitted/alice/a1/{NOTEBOOK}"]


def test_sizes_counts_and_repeats_stop_at_the_limits(tmp_path):
    listing = [encoded(NOTEBOOK, b"x" * 900), encoded("big.bin", b"x" * 1001),
               encoded("second.bin", b"x" * 700), encoded(NOTEBOOK, b"again"),
               encoded("sub/a"), encoded("sub/b"), encoded("sub/c"), encoded("sub/d"), encoded("sub/e"),
               {"path": "no_content"}, {"content": "e30="}, "not even a dict"]
    taken = files.write_encoded(listing, tmp_path, LIMITS)
    assert taken.names == [NOTEBOOK, "sub/a", "sub/b", "sub/c", "sub/d"]
    assert taken.refused == ["'big.bin' (0 MB; at most 0 MB)", "'second.bin' (over the 0 MB that all files together may take)",
                             f"'{NOTEBOOK}' (given twice)", "'sub/e' (more than 5 files)",
                             "'no_content' (no content)", "a file with no name (not a plain relative name)",
                             "a file with no name (not a plain relative name)"]
    assert (tmp_path / NOTEBOOK).read_bytes() == b"x" * 900


def test_a_name_that_is_a_folder_and_a_file_is_refused(tmp_path):
    taken = files.write_encoded([encoded("a"), encoded("a/b")], tmp_path, LIMITS)
    assert taken.names == ["a"] and taken.refused[0].startswith("'a/b' (")


def test_the_collect_class_applies_nbgraders_limits_and_ignore_patterns(tmp_path, caplog):
    """The real SafeNgshareCollect.do_copy, on a submission as ngshare_exchange hands it over
    (do_copy needs no server), with nbgrader's own CourseDirectory settings (kB)."""
    coursedir = CourseDirectory(root=str(tmp_path), max_file_size=1, max_dir_size=2,
                                ignore=["*.keras", ".ipynb_checkpoints"])
    collect = SafeNgshareCollect(coursedir=coursedir, authenticator=Authenticator())
    collect.log = logging.getLogger("collect")
    dest = tmp_path / "submitted" / "alice" / "a1"
    with caplog.at_level(logging.WARNING, "collect"):
        collect.do_copy([encoded(NOTEBOOK), encoded("model.keras", b"x" * 10), encoded("../x"),
                         encoded(".ipynb_checkpoints/old.ipynb"),
                         encoded("huge.bin", b"x" * 1500), encoded("timestamp.txt", b"2099-01-01")], str(dest))
    assert sorted(p.name for p in dest.iterdir()) == [NOTEBOOK, "timestamp.txt"]
    assert not (tmp_path / "submitted" / "alice" / "x").exists()
    assert "'../x' (not a plain relative name)" in caplog.text
    assert "'huge.bin' (0 MB; at most 0 MB)" in caplog.text

"""nbgrader collect, run for real, never follows a link a student left in the exchange."""

import os

from cnnkit_tools import course, submissions

STAMP = "2099-01-01 00:00:00.000000 UTC"


def test_collect_refuses_links_in_a_submission_and_a_submission_that_is_a_link(tmp_path):
    directory = course.copy_course(tmp_path / "course")
    secret = directory / "source" / submissions.ASSIGNMENT / submissions.NOTEBOOK
    inbound = tmp_path / "exchange" / "cnn-compile-train" / "inbound"
    alice = inbound / f"alice+{submissions.ASSIGNMENT}+{STAMP}+a1"
    alice.mkdir(parents=True)
    (alice / submissions.NOTEBOOK).write_text("{}")
    (alice / "gradebook_link.db").symlink_to(directory / "nbgrader_config.py")
    (alice / "source_link.ipynb").symlink_to(secret)
    os.mkfifo(alice / "pipe")
    # Bob's whole submission is a link to the instructor's source folder.
    (inbound / f"bob+{submissions.ASSIGNMENT}+{STAMP}+b1").symlink_to(secret.parent)
    done = course.nbgrader(directory, "collect", submissions.ASSIGNMENT, check=False,
                           NBGRADER_EXCHANGE_ROOT=tmp_path / "exchange")
    collected = directory / "submitted" / "alice" / submissions.ASSIGNMENT
    assert sorted(p.name for p in collected.iterdir()) == [submissions.NOTEBOOK]
    assert not (directory / "submitted" / "bob" / submissions.ASSIGNMENT / submissions.NOTEBOOK).exists()
    assert "is a link or not a folder" in done.stdout

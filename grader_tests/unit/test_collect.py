"""nbgrader collect, run for real, never follows a link a student left in the exchange, and
collects a folder only as the student it names, at a time the machine saw.

Every student can write any folder name in the exchange's inbound folder. These run the real
``nbgrader collect`` (the kit's ``SafeCollect``) on folders another account made.
"""

import datetime
import os

import pytest

from cnnkit_tools import course, submissions

ASSIGNMENT = submissions.ASSIGNMENT
STRANGER = 54321  # a uid no account has: "another student on this machine"


def stamp(delta=datetime.timedelta(0)):
    """A submission time as nbgrader's submit writes it, `delta` from now."""
    return (datetime.datetime.now(datetime.timezone.utc) + delta).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def handed_in(inbound, student, when, suffix, text="{}"):
    folder = inbound / f"{student}+{ASSIGNMENT}+{when}+{suffix}"
    folder.mkdir(parents=True)
    (folder / submissions.NOTEBOOK).write_text(text)
    (folder / "timestamp.txt").write_text(when)
    return folder


def collect(tmp_path, directory):
    return course.nbgrader(directory, "collect", "--update", ASSIGNMENT, check=False,
                           NBGRADER_EXCHANGE_ROOT=tmp_path / "exchange")


@pytest.fixture
def world(tmp_path):
    directory = course.copy_course(tmp_path / "course")
    inbound = tmp_path / "exchange" / "cnn-compile-train" / "inbound"
    inbound.mkdir(parents=True)
    return directory, inbound


def test_collect_refuses_links_in_a_submission_and_a_submission_that_is_a_link(tmp_path, world):
    directory, inbound = world
    secret = directory / "source" / ASSIGNMENT / submissions.NOTEBOOK
    alice = handed_in(inbound, "alice", stamp(), "a1")
    (alice / "gradebook_link.db").symlink_to(directory / "nbgrader_config.py")
    (alice / "source_link.ipynb").symlink_to(secret)
    os.mkfifo(alice / "pipe")
    # Bob's whole submission is a link to the instructor's source folder.
    (inbound / f"bob+{ASSIGNMENT}+{stamp()}+b1").symlink_to(secret.parent)
    done = collect(tmp_path, directory)
    collected = directory / "submitted" / "alice" / ASSIGNMENT
    assert sorted(p.name for p in collected.iterdir()) == [submissions.NOTEBOOK, "timestamp.txt"]
    assert not (directory / "submitted" / "bob" / ASSIGNMENT / submissions.NOTEBOOK).exists()
    assert "is a link or not a folder" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another account owns needs root")
def test_a_folder_another_account_made_in_a_students_name_is_not_collected(tmp_path, world):
    """Another student names a newer folder after Carol: Carol's own submission is collected."""
    directory, inbound = world
    handed_in(inbound, "carol", stamp(datetime.timedelta(seconds=-30)), "c1", text='{"real": 1}')
    forged = handed_in(inbound, "carol", stamp(), "evil", text='{"forged": 1}')
    for path in (forged, *forged.iterdir()):
        os.chown(path, STRANGER, STRANGER)
    done = collect(tmp_path, directory)
    kept = directory / "submitted" / "carol" / ASSIGNMENT / submissions.NOTEBOOK
    assert kept.read_text() == '{"real": 1}'
    assert f"it is owned by uid {STRANGER}, not by carol" in done.stdout


def test_a_folder_that_cannot_be_read_stops_no_one_else(tmp_path, world):
    directory, inbound = world
    (inbound / f"zz+{ASSIGNMENT}+not a date+x").mkdir()
    (inbound / f"*+{ASSIGNMENT}+{stamp()}+x").mkdir()  # nbgrader would pass "*" on as --student
    handed_in(inbound, "dave", stamp(), "d1")
    done = collect(tmp_path, directory)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (directory / "submitted" / "dave" / ASSIGNMENT / submissions.NOTEBOOK).exists()
    assert sorted(p.name for p in (directory / "submitted").iterdir()) == ["dave"]
    assert "its time does not read as a date" in done.stdout
    assert "the student id is not a plain account name" in done.stdout


def test_a_time_in_the_future_or_before_the_folder_was_made_is_refused(tmp_path, world):
    """What the on-submit limits and the due date count by is a time the machine saw."""
    directory, inbound = world
    handed_in(inbound, "erin", stamp(datetime.timedelta(days=3)), "e1")
    handed_in(inbound, "frank", stamp(datetime.timedelta(days=-3)), "f1")
    honest = stamp()
    handed_in(inbound, "gina", honest, "g1")
    (inbound / f"gina+{ASSIGNMENT}+{honest}+g1" / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC")
    done = collect(tmp_path, directory)
    assert sorted(p.name for p in (directory / "submitted").iterdir()) == ["gina"]
    assert "its time is in the future" in done.stdout
    assert "its time is earlier than the folder was made" in done.stdout
    # the time inside the folder is the student's to write; the name's, checked, is what is kept
    assert (directory / "submitted" / "gina" / ASSIGNMENT / "timestamp.txt").read_text() == honest

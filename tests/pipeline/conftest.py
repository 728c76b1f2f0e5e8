"""Session fixtures: the smoke, attack and stall courses, graded at once by the real nbgrader.

The three nbgrader runs go in parallel. Much of grading waits (kernel start, imports, the
stall attack's sleeping hook), and the fork bomb must meet another submission grading at the
same time: the smoke course is that other submission. They start as soon as collection ends,
when a selected test needs them, so they grade while the other tiers' tests run.
"""

import os

import pytest

from cnnkit_tools import attacks, course, submissions

from courses import SMOKE, STALL, digests, make_course, write_attacks, write_smoke



BATCH_FIXTURES = {"batches", "smoke_course", "attacked", "stalled"}


def pytest_collection_finish(session):
    if os.environ.get("CIFAR10_DIR") and any(BATCH_FIXTURES & set(getattr(item, "fixturenames", ()))
                                             for item in session.items):
        session.config.cnnkit_batches = start_batches(session.config._tmp_path_factory, os.environ["CIFAR10_DIR"])


@pytest.fixture(scope="session")
def batches(request, tmp_path_factory, cifar_dir):
    started = getattr(request.config, "cnnkit_batches", None)
    return started if started is not None else start_batches(tmp_path_factory, cifar_dir)


def start_batches(tmp_path_factory, cifar_dir):
    smoke = make_course(tmp_path_factory, "smoke_course")
    write_smoke(smoke)
    attack = make_course(tmp_path_factory, "attack_course")
    listener = write_attacks(attack, cifar_dir, [a for a in attacks.ATTACKS if not a.alone])
    stall = make_course(tmp_path_factory, "stall_course")
    write_attacks(stall, cifar_dir, [a for a in attacks.ATTACKS if a.alone]).close()
    before = digests(attack / "submitted")
    # The attack and stall courses hold the reference only as a peer for the attacks to look
    # for; the smoke course grades it, so these two leave it ungraded (nbgrader's own exclude).
    peer = "--CourseDirectory.student_id_exclude=reference"
    runs = {name: course.start(folder, "autograde", submissions.ASSIGNMENT, "--force", *extra,
                               log=folder / "autograde.log", **env)
            for name, folder, env, extra in (("smoke", smoke, SMOKE, ()), ("attack", attack, SMOKE, (peer,)),
                                             ("stall", stall, STALL, (peer,)))}
    return {"smoke": (smoke, runs["smoke"]), "attack": (attack, runs["attack"], listener, before),
            "stall": (stall, runs["stall"])}


@pytest.fixture(scope="session")
def smoke_course(batches):
    """A course folder with every fixture submission autograded under the smoke budget."""
    directory, run = batches["smoke"]
    course.finish(run)
    return directory


@pytest.fixture(scope="session")
def attacked(batches):
    """The attack course, autograded, with feedback; and what the attacks could reach."""
    directory, run, listener, before = batches["attack"]
    log = course.finish(run)
    course.generate_feedback(directory)
    try:
        listener.accept()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return {"dir": directory, "before": before, "reached": reached, "log": log}


@pytest.fixture(scope="session")
def stalled(batches):
    directory, run = batches["stall"]
    course.finish(run)
    return directory

"""Session fixtures: the smoke, attack and stall courses, graded at once by the real nbgrader.

The four nbgrader runs (smoke, two halves of the attacks, stall) go in parallel. Much of
grading waits (kernel start, imports, the stall attack's sleeping hook, a cell timeout), and
the fork bomb must meet another submission grading at the same time: the smoke course is that
other submission. They start as soon as collection ends,
when a selected test needs them, so they grade while the other tiers' tests run.
"""

import os

import pytest

from cnnkit_tools import course, submissions
from cnnkit_tools.lab import attacks

from courses import SIDE_BY_SIDE, SMOKE, STALL, digests, make_course, write_attacks, write_smoke



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
    # The attacks go to two courses graded side by side: several of them wait on purpose (a
    # cell timeout, a kernel's death), and one nbgrader run grades one submission at a time.
    chosen = [a for a in attacks.ATTACKS if not a.alone]
    halves = []
    for half in (chosen[0::2], chosen[1::2]):
        folder = make_course(tmp_path_factory, "attack_course")
        halves.append((folder, write_attacks(folder, cifar_dir, half), digests(folder / "submitted"),
                       [a.name for a in half]))
    stall = make_course(tmp_path_factory, "stall_course")
    write_attacks(stall, cifar_dir, [a for a in attacks.ATTACKS if a.alone]).close()
    # The attack and stall courses hold the reference only as a peer for the attacks to look
    # for; the smoke course grades it, so these leave it ungraded (nbgrader's own exclude).
    peer = ("--CourseDirectory.student_id_exclude=reference",)
    courses = [("smoke", smoke, SMOKE, ())] + [(f"attack{n}", half[0], SMOKE, peer) for n, half in enumerate(halves)]
    courses.append(("stall", stall, STALL, peer))
    runs = {name: course.start(folder, "autograde", submissions.ASSIGNMENT, "--force", *extra,
                               log=folder / "autograde.log", **env, **SIDE_BY_SIDE)
            for name, folder, env, extra in courses}
    return {"smoke": (smoke, runs["smoke"]), "stall": (stall, runs["stall"]),
            "attack": [(folder, runs[f"attack{n}"], listener, before, names)
                       for n, (folder, listener, before, names) in enumerate(halves)]}


@pytest.fixture(scope="session")
def smoke_course(batches):
    """A course folder with every fixture submission autograded under the smoke budget."""
    directory, run = batches["smoke"]
    course.finish(run)
    return directory


@pytest.fixture(scope="session")
def attacked(batches):
    """The attack courses, autograded, with feedback: ``where`` (attack -> its course folder),
    ``before`` (course folder -> fingerprint of submitted/), and whether any attack reached
    the loopback listener."""
    where, before, reached = {}, {}, False
    for directory, run, listener, fingerprint, names in batches["attack"]:
        course.finish(run)
        course.generate_feedback(directory)
        try:
            listener.accept()
            reached = True
        except BlockingIOError:
            pass
        listener.close()
        where.update(dict.fromkeys(names, directory))
        before[directory] = fingerprint
    return {"where": where, "before": before, "reached": reached}


@pytest.fixture(scope="session")
def stalled(batches):
    directory, run = batches["stall"]
    course.finish(run)
    return directory

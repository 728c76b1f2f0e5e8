"""The hub's root launcher grades what it is sent and trusts none of it: the course account's
config, grader, gradebook and environment never reach root, names cannot leave their folder,
and the service side runs as the course's account (issue 14: the service as root opened the
course's gradebook and wrote in a folder another account owns)."""

import json
import os
import pwd
import socket
import struct
import tempfile
import threading

import pytest

from cnnkit_tools import course, submissions
from cnnkit_tools.grade import engine as engines, job as jobs_, task
from cnnkit_tools.onsubmit import launcher

ASSIGNMENT = submissions.ASSIGNMENT
FORGED_CONFIG = b"c.Autograde.preprocessors = []  # the course account's edit: stock nbgrader, no sandbox\n"


@pytest.fixture(scope="module")
def request_(tmp_path_factory):
    """What the service, as the course's account, sends: make_jobs over a course folder whose
    config and grader the account has changed, with a submission, and more it should not send."""
    directory = course.copy_course(tmp_path_factory.mktemp("launcher"))
    course.generate_release(directory)
    submissions.write(submissions.read(directory / "release" / ASSIGNMENT / submissions.NOTEBOOK), directory, "alice")
    found = jobs_.find_submissions(directory, ASSIGNMENT)
    shared, jobs = jobs_.make_jobs(directory, ASSIGNMENT, found, f"sqlite:///{directory}/gradebook.db")
    shared["course"]["nbgrader_config.py"] = (0o644, FORGED_CONFIG)
    shared["course"]["cnnkit_grader/judge/rules.py"] = (0o644, b"def judge(*a): return 'full marks'\n")
    shared["env"].update(CNNKIT_BUDGET="smoke", PYTHONPATH="/tmp/evil", LD_PRELOAD="/tmp/evil.so",
                         CNNKIT_PROBE_TIMEOUT="99999", NBGRADER_COURSE_IDX="x")  # a machine's own; no setting
    shared["threads"], shared["timeout"] = 10**6, 10**9
    jobs[0]["submission"]["tool.sh"] = (0o4755, b"#!/bin/sh\n")
    shared["duedate"] = "2026-12-01T12:00:00"
    return {"kind": "run", "shared": shared, "jobs": jobs}


@pytest.fixture(scope="module")
def checked(request_):
    return launcher.checked_request(request_)


def test_root_grades_with_the_kits_config_and_grader_and_its_own_gradebook(request_, checked):
    shared, jobs = checked
    assert shared["course"]["nbgrader_config.py"][1] == (task.KIT_ROOT / "nbgrader_config.py").read_bytes()
    assert not any(name.startswith("cnnkit_grader/") for name in shared["course"])
    assert {name.split("/")[0] for name in shared["course"]} <= {"nbgrader_config.py", "source", "release",
                                                                 ".cnnkit-secret"}
    assert shared["kit_digest"] == task.kit_digest()
    assert shared["gradebook"] != request_["shared"]["gradebook"] and shared["gradebook"].startswith(b"SQLite format 3")
    assert shared["env"]["CNNKIT_BUDGET"] == "smoke"
    assert not {"PYTHONPATH", "LD_PRELOAD", "CNNKIT_PROBE_TIMEOUT", "NBGRADER_COURSE_IDX"} & set(shared["env"])
    assert shared["threads"] <= (os.cpu_count() or 1) and shared["timeout"] == task.DEFAULT_TIMEOUT
    assert [job["student"] for job in jobs] == ["alice"]
    assert jobs[0]["submission"]["tool.sh"][0] == 0o755  # no set-uid bit


def test_the_due_date_is_the_only_thing_taken_from_the_requests_gradebook(checked):
    from nbgrader.api import Gradebook

    shared, _ = checked
    with tempfile.NamedTemporaryFile(suffix=".db") as db:
        db.write(shared["gradebook"])
        db.flush()
        with Gradebook(f"sqlite:///{db.name}") as gradebook:
            assert str(gradebook.find_assignment(ASSIGNMENT).duedate) == "2026-12-01 12:00:00"


@pytest.mark.parametrize("where, value", [
    ("student", "../../etc"), ("student", "a/b"), ("student", ""), ("assignment", ".."),
    ("file", "../../../etc/cron.d/x"), ("file", "/etc/passwd"), ("file", "a//b"),
    ("course file", "source/../../x"), ("duedate", "tomorrow"), ("submitted_at", "soon"),
])
def test_a_name_that_leaves_its_folder_or_a_forged_field_is_refused(request_, where, value):
    forged = launcher._decode(json.loads(json.dumps(launcher._encode(request_))))  # a deep copy, as it travels
    if where == "student":
        forged["jobs"][0]["student"] = value
    elif where == "assignment":
        forged["shared"]["assignment"] = value
    elif where == "file":
        forged["jobs"][0]["submission"][value] = [0o644, b"x"]
    elif where == "course file":
        forged["shared"]["course"][value] = [0o644, b"x"]
    elif where == "duedate":
        forged["shared"]["duedate"] = value
    else:
        forged["jobs"][0]["submitted_at"] = value
    with pytest.raises(launcher.Refused):
        launcher.checked_request(forged)


class Pool:
    """Stands in for the local pool (the hub tests grade on the real one): it keeps what root
    would grade and answers one result per job."""
    mode = "test pool"

    def __init__(self):
        self.given = []

    def workers(self):
        return 2

    def run(self, shared, jobs):
        self.given.append((shared, jobs))
        for job in jobs:
            yield job, {"student": job["student"], "autograded": {"a.ipynb": (0o444, b"\x00\xff")}}, 1
        yield jobs[0], engines.Failure("worker_died", "twice"), 3

    def close(self):
        pass


def test_jobs_and_results_cross_as_data_and_only_checked_jobs_are_graded(request_):
    pool = Pool()
    root_end, service_end = socket.socketpair()
    server = threading.Thread(target=launcher.serve, args=(root_end,), kwargs={"make_engine": lambda: pool})
    server.start()
    remote = launcher.Remote(service_end)
    assert remote.workers() == 2 and "through the launcher" in remote.mode
    results = list(remote.run(request_["shared"], request_["jobs"]))
    assert [(job["student"], result) for job, result, _ in results[:1]] == [
        ("alice", {"student": "alice", "autograded": {"a.ipynb": [0o444, b"\x00\xff"]}})]
    assert results[1][1] == engines.Failure("worker_died", "twice") and results[1][2] == 3
    (shared, jobs), = pool.given
    assert shared["course"]["nbgrader_config.py"][1] != FORGED_CONFIG and "cnnkit_grader/judge/rules.py" not in shared["course"]
    forged = dict(request_["shared"], assignment="../x")
    with pytest.raises(launcher.Refused, match="not a plain name"):
        list(remote.run(forged, request_["jobs"]))
    clashing = dict(request_["shared"], course={**request_["shared"]["course"], "source/x": (0o644, b"a"),
                                                "source/x/y": (0o644, b"b")}, timeout=float("inf"))
    with pytest.raises(launcher.Refused, match="could not be checked"):
        list(remote.run(clashing, request_["jobs"]))
    assert len(list(remote.run(request_["shared"], request_["jobs"]))) == 2  # still serving
    for junk in ([1, 2], {"kind": "run", "shared": {"__b64__": 5}}, {"kind": "run", "jobs": [{"__failure__": 3}]}):
        launcher.send(service_end, junk)
        assert "refused" in launcher.receive(service_end)
    service_end.sendall(struct.pack("!Q", 200_001) + b"[" * 200_001)  # deeper than any JSON reader goes
    assert "unreadable" in launcher.receive(service_end)["refused"]
    server.join(10)
    assert not server.is_alive()  # it ended, refusing, rather than crashing


@pytest.mark.skipif(os.geteuid() != 0, reason="the split drops root")
def test_the_service_side_runs_as_the_course_account_and_the_launcher_stays_root():
    sock, child = launcher.split("nobody")
    if not child:
        try:
            launcher.send(sock, {"ids": [os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups()),
                                        os.environ["HOME"]]})
        finally:
            os._exit(0)
    answer = launcher.receive(sock)
    _, status = os.waitpid(child, 0)
    entry = pwd.getpwnam("nobody")
    assert answer["ids"][:3] == [entry.pw_uid, entry.pw_uid, entry.pw_gid] and 0 not in answer["ids"][3]
    assert answer["ids"][4] == entry.pw_dir and os.geteuid() == 0 and status == 0


def test_the_launchers_end_stops_the_service_before_it_finishes_any_row(request_):
    """The hub stopping the service ends the launcher first: the service must take that as its
    stop (the rows being graded stay ``grading``, requeued at the next start), not as a failure."""
    root_end, service_end = socket.socketpair()
    stopping = threading.Event()
    server = threading.Thread(target=launcher.serve, args=(root_end,), kwargs={"make_engine": Pool})
    server.start()
    remote = launcher.Remote(service_end, stopping)
    root_end.shutdown(socket.SHUT_RDWR)  # the launcher ends mid-batch
    with pytest.raises(RuntimeError, match="launcher .root. has stopped"):
        list(remote.run(request_["shared"], request_["jobs"]))
    assert stopping.is_set()
    server.join(10)

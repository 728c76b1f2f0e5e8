"""The engine's promises, with tiny tasks on a real local pool (two worker processes).

A task whose worker dies is tried once more elsewhere, then reported as a grader error with
the reason; a task that raises is retried once; the other tasks of the batch are not
affected. These run in seconds: the tasks sleep or die instead of grading.
"""

import os
import signal
import time

import pytest

from cnnkit_tools.grade import engine as engines, task


def work(shared, job):
    """A stand-in for task.grade with the same announcement, doing what the job says."""
    task._announce(job)
    if job["do"] == "die":
        time.sleep(1)  # let the announcement reach the scheduler first
        os.kill(os.getpid(), signal.SIGKILL)
    if job["do"] == "raise":
        raise RuntimeError("disk full")
    if job["do"] == "die_once":
        marker = os.path.join(shared["scratch"], job["key"])
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(1)
            os.kill(os.getpid(), signal.SIGKILL)
    return {"student": job["student"], "pid": os.getpid(), "scale": shared["scale"]}


@pytest.fixture(scope="module")
def pool():
    os.environ.setdefault("CNNKIT_GRADE_PORTS", "18160-18179")
    before = dict(os.environ)
    with engines.Engine(workers=2) as engine:
        engine.environ_before = before
        yield engine


def run(pool, tmp_path, todo):
    jobs = [{"key": f"t-{student}", "student": student, "do": do} for student, do in todo.items()]
    return {job["student"]: (result, attempts)
            for job, result, attempts in pool.run({"scale": 7, "scratch": str(tmp_path)}, jobs, fn=work)}


def test_a_dead_worker_costs_one_retry_then_a_grader_error(pool, tmp_path):
    got = run(pool, tmp_path, {"ok1": "work", "doomed": "die", "ok2": "work", "ok3": "work"})
    result, attempts = got["doomed"]
    assert isinstance(result, engines.Failure) and result.kind == "worker_died"
    assert "died while grading, twice" in result.detail and attempts == 2
    for student in ("ok1", "ok2", "ok3"):  # the batch went on
        assert got[student][0]["student"] == student and got[student][0]["scale"] == 7


def test_a_task_killed_once_succeeds_on_its_second_attempt(pool, tmp_path):
    got = run(pool, tmp_path, {"unlucky": "die_once", "ok": "work"})
    result, attempts = got["unlucky"]
    assert result["student"] == "unlucky" and attempts == 2
    assert got["ok"][1] == 1


def test_a_task_that_raises_is_retried_once_then_reported(pool, tmp_path):
    got = run(pool, tmp_path, {"broken": "raise", "ok": "work"})
    result, attempts = got["broken"]
    assert isinstance(result, engines.Failure) and result.kind == "task_failed"
    assert result.detail == "RuntimeError: disk full" and attempts == 2
    assert got["ok"][0]["student"] == "ok"


def test_the_pool_has_one_single_threaded_worker_per_requested_slot(pool):
    # Ask the scheduler itself: the client's scheduler_info() is a cache refreshed every few
    # seconds, and right after the nanny restarts the workers the tests killed it can still
    # list none (CI saw 0 workers after wait_for_workers(2) had returned).
    def threads(dask_scheduler=None):
        return sorted(ws.nthreads for ws in dask_scheduler.workers.values())
    deadline = time.monotonic() + 60
    while pool.client.run_on_scheduler(threads) != [1, 1] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pool.client.run_on_scheduler(threads) == [1, 1]
    assert pool.mode == "local pool, 2 workers x 1 thread"


def test_the_pool_gives_its_workers_one_thread_and_leaves_its_callers_environment_alone(pool):
    """Dask's nanny writes its pre-spawn-environ (OMP_NUM_THREADS=1...) into the process that
    starts the pool; there it reached everything started later (nproc printed 1)."""
    limits = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")
    leaked = {k: os.environ.get(k) for k in limits if os.environ.get(k) != pool.environ_before.get(k)}
    assert not leaked
    assert set(pool.client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}


def test_the_pool_admits_only_the_batch_credentials(pool):
    """A peer on this machine with no credentials, or its own, gets no Dask handshake and runs
    nothing; the batch's own client does. (From another account: test_grade_intruder.py.)"""
    from distributed import Client
    from distributed.security import Security

    address = pool.cluster.scheduler_address
    assert address.startswith("tls://127.0.0.1:")
    # No dashboard or other HTTP server listens (Dask starts them even without a dashboard).
    def http_sockets(dask_worker=None, dask_scheduler=None):
        return sum(sock.fileno() != -1 for sock in (dask_worker or dask_scheduler).http_server._sockets.values())
    assert pool.client.run_on_scheduler(http_sockets) == 0
    assert set(pool.client.run(http_sockets).values()) == {0}
    for target, security in ((address.replace("tls://", "tcp://"), None), (address, Security.temporary())):
        with pytest.raises((OSError, TimeoutError)):
            with Client(target, security=security, timeout="3s") as intruder:
                intruder.run_on_scheduler(os.getuid)
    assert pool.client.run_on_scheduler(os.getuid) == os.getuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a folder owned by another account")
def test_the_leftover_sweep_removes_only_this_accounts_own_folders(tmp_path, monkeypatch):
    """A worker removes the private courses of killed tasks (a pid that no longer runs), and
    never a folder another account made under the same name in the shared temporary folder."""
    import pwd

    monkeypatch.setattr(task.tempfile, "gettempdir", lambda: str(tmp_path))
    nobody = pwd.getpwnam("nobody").pw_uid
    ours, theirs = tmp_path / "cnnkit-task-999999999-a", tmp_path / "cnnkit-task-999999999-b"
    for folder in (ours, theirs):
        (folder / "course").mkdir(parents=True)
    os.chown(theirs, nobody, nobody)
    task._sweep_leftovers()
    assert not ours.exists() and (theirs / "course").is_dir()

"""One task: grade one submission with the kit's real pipeline, in a private course folder.

This runs on a worker: a process of the local pool, or a ``dask worker`` on another machine
that has the kit installed and CIFAR-10 on disk (``$CIFAR10_DIR``). It gets everything else
as data (see :func:`cnnkit_tools.grade.job.make_jobs`): the course's ``nbgrader_config.py``
and ``source/``, a gradebook that holds only the assignment's definition, and the student's
submitted files. It builds a throwaway course folder from them, runs the real
``nbgrader autograde ASSIGNMENT --student ID --force`` there against that private SQLite
gradebook, and returns as data what the client needs to record the grading in the real
course: the autograded folder, the per-cell grades nbgrader saved, the submission's
timestamp and late penalty, the pipeline's outcome metadata and the timings.

Workers never open the real gradebook, so there is exactly one writer: the client.
"""

import ctypes
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from cnnkit import settings

from ..memory import PeakTree
from . import files

KIT_ROOT = Path(__file__).resolve().parents[2]
GRADER_PACKAGE = "cnnkit_grader"
# nbgrader logs a broken nbgrader_config.py and carries on with its defaults: it would grade
# with stock nbgrader instead of the kit's pipeline. That is a grader error, never a grade.
CONFIG_FAILED = "Exception while loading config file"
DEFAULT_TIMEOUT = int(settings.default("CNNKIT_GRADE_TIMEOUT"))  # 4 hours


def kit_digest(root=KIT_ROOT):
    """A digest of the trusted grader's code: a worker whose kit differs from the client's
    would grade by other rules, so the task refuses to run there."""
    digest = hashlib.sha256()
    for path in sorted((Path(root) / GRADER_PACKAGE).rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _die_with_parent():
    """In the child, before exec: die when the worker dies (SIGKILL included), so a killed
    worker leaves no nbgrader behind; the sandbox's --die-with-parent takes the kernel too."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def where():
    """A name for the worker this runs on: the dask worker's address, else host and pid."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _announce(job):
    """Tell the scheduler this attempt started, so the client can count attempts even when
    a worker dies mid-task (see engine.attempts)."""
    try:
        from distributed import get_worker
        get_worker().log_event("cnnkit-grade-start", {"key": job["key"], "worker": where()})
    except (ImportError, ValueError):
        pass


def _private_course(job, folder):
    course = Path(folder) / "course"
    files.unpack(job["course"], course)
    (course / "gradebook.db").write_bytes(job["gradebook"])
    submitted = course / "submitted" / job["student"] / job["assignment"]
    files.unpack(job["submission"], submitted)
    return course


def _environment(job, course):
    env = dict(os.environ)
    env.update(job["env"])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # The trusted grader comes from this worker's kit, not from the data the client sent.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(KIT_ROOT), env.get("PYTHONPATH")) if p)
    env["NBGRADER_DB_URL"] = settings.gradebook_url(course, environ={})  # the task's private copy
    env["CNNKIT_THREADS"] = str(job["threads"])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _run_nbgrader(job, course, env):
    command = [sys.executable, "-m", "nbgrader", "autograde", job["assignment"],
               "--student", job["student"], "--force"]
    process = subprocess.Popen(command, cwd=course, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace",
                               start_new_session=True, preexec_fn=_die_with_parent)
    with PeakTree(process.pid) as memory:
        try:
            log, _ = process.communicate(timeout=job.get("timeout") or DEFAULT_TIMEOUT)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            log, _ = process.communicate()
            timed_out = True
    return process.returncode, log, timed_out, memory.peak


def _grades(course, job):
    """What nbgrader saved in the private gradebook for this submission."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(settings.gradebook_url(course, environ={})) as gradebook:
        try:
            submission = gradebook.find_submission(job["assignment"], job["student"])
        except MissingEntry:
            return None
        notebooks = {}
        for notebook in submission.notebooks:
            notebooks[notebook.name] = {
                "late_submission_penalty": notebook.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                                    "needs_manual_grade": g.needs_manual_grade,
                                    "cell_type": g.cell_type} for g in notebook.grades},
                "comments": {c.name: {"auto_comment": c.auto_comment} for c in notebook.comments},
            }
        timestamp = submission.timestamp.isoformat() if submission.timestamp else None
        return {"timestamp": timestamp, "notebooks": notebooks}


def _metadata(autograded):
    """The pipeline's outcome metadata (contract A) of each autograded notebook."""
    found = {}
    for path in sorted(autograded.glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[path.stem] = nb.get("metadata", {}).get("cnnkit")
    return found


def _sweep_leftovers():
    """Remove the private courses of tasks whose worker was killed (no cleanup ran there)."""
    import shutil
    for folder in Path(tempfile.gettempdir()).glob("cnnkit-task-*-*"):
        pid = folder.name.split("-")[2]
        try:
            info = folder.lstat()
        except FileNotFoundError:
            continue
        # Only this account's own folders: /tmp is everyone's, and another account may make one of these names.
        if not (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()):
            continue
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def grade(shared, own):
    """Grade one submission; return a dict of plain data (bytes for the files). ``shared`` is
    what every task of the batch gets (job.make_jobs), ``own`` this submission's part. Never
    raises for what the submission does: a failing nbgrader is a result, not an exception."""
    started = time.monotonic()
    job = {**shared, **own}
    _announce(job)
    result = {"key": job["key"], "assignment": job["assignment"], "student": job["student"],
              "submitted_at": job.get("submitted_at"),
              "worker": where(), "nbgrader_exit": None, "log": "", "autograded": None,
              "grades": None, "metadata": {}, "error": None, "peak_rss": 0}
    if job.get("kit_digest") and job["kit_digest"] != kit_digest():
        result["error"] = ("kit_mismatch", f"this worker's {GRADER_PACKAGE} ({kit_digest()}) differs "
                                           f"from the client's ({job['kit_digest']}): install the same kit")
        result["seconds"] = time.monotonic() - started
        return result
    _sweep_leftovers()
    with tempfile.TemporaryDirectory(prefix=f"cnnkit-task-{os.getpid()}-") as folder:
        course = _private_course(job, folder)
        setup_done = time.monotonic()
        code, log, timed_out, peak = _run_nbgrader(job, course, _environment(job, course))
        graded_done = time.monotonic()
        result.update(nbgrader_exit=code, log=log[-20000:], peak_rss=peak)
        autograded = course / "autograded" / job["student"] / job["assignment"]
        if timed_out:
            result["error"] = ("timeout", f"nbgrader autograde ran longer than {job.get('timeout')} s")
        elif CONFIG_FAILED in log:
            result["error"] = ("config_error", _tail(log, after=CONFIG_FAILED))
        elif autograded.is_dir():
            result["autograded"] = files.pack(autograded)
            result["metadata"] = _metadata(autograded)
        result["grades"] = _grades(course, job)
        if result["autograded"] is None and result["error"] is None:
            result["error"] = ("nbgrader_failed", _tail(log))
    finished = time.monotonic()
    result["timings"] = {"setup": setup_done - started, "nbgrader": graded_done - setup_done,
                         "collect": finished - graded_done}
    result["seconds"] = finished - started
    return result


def _tail(log, after=None, lines=30):
    if after and after in log:
        log = log[log.index(after):]
        return "\n".join(log.splitlines()[:lines])
    return "\n".join(log.splitlines()[-lines:])

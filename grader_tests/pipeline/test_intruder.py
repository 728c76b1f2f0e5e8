"""Another account on the hub, watching while ``./kit grade --workers 2`` grades a small class.

A real unprivileged account (made with useradd, removed after) polls every second, as setpriv
makes it: it lists /tmp, /var/tmp, /dev/shm, /run and the course folder, and for every new
entry the grader made it tries to list, read and write it, and to read any model, array,
notebook or answers file under it. So that it need not guess names, the test (as root) also
hands it every path the grader made below those entries, which it tries the same way. Every
attempt must fail; and it must have seen the grader's folders, so the test cannot pass by
looking nowhere.

The grading runs in a mount namespace of its own with a fresh /tmp and /dev/shm (the
intruder joins it), so other work on this machine cannot be mistaken for the grader's.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cnnkit_tools import course, submissions

from courses import make_course
from test_grade_class import write_class

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making an account and watching as it needs root")

ROOT = Path(__file__).resolve().parents[2]
ENV = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "300", "CNNKIT_GRADE_PORTS": "18230-18249",
       "PYTHONPATH": str(ROOT)}
PRIVATE = ("/tmp", "/dev/shm")          # fresh in the grading's namespace: all in them is the grader's
SHARED = ("/var/tmp", "/run")           # shared with the machine: only cnnkit entries are the grader's
SECRET_SUFFIXES = (".keras", ".npz", ".ipynb", "answers.json")

INTRUDER = r"""
import json, os, sys
job = json.loads(sys.stdin.read())
seen, tried, got = set(), 0, []

def attempt(kind, path, action):
    global tried
    tried += 1
    try:
        action()
        got.append(kind + " " + path)
        return True
    except OSError:
        return False

def write_into(path):
    if os.path.isdir(path):
        name = os.path.join(path, ".intruder-was-here")
        open(name, "w").close()
        os.unlink(name)
    else:  # open for writing, never create: a name the grader already removed is no breach
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW))

def probe(path):
    listed = attempt("list", path, lambda: os.listdir(path))
    attempt("read", path, lambda: open(path, "rb").read(1))
    attempt("write", path, lambda: write_into(path))
    if listed:
        for root, dirs, names in os.walk(path):
            for name in names:
                if name.endswith(tuple(job["secret"])):
                    full = os.path.join(root, name)
                    attempt("read", full, lambda: open(full, "rb").read(1))

for folder in job["watch"]:
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    for name in names:
        path = os.path.join(folder, name)
        if path in job["before"] or (folder in job["shared"] and not name.startswith("cnnkit")):
            continue
        seen.add(path)
        probe(path)
for path in job["known"]:
    seen.add(path)
    probe(path)
print(json.dumps({"seen": sorted(seen), "tried": tried, "got": got}))
"""


@pytest.fixture(scope="module")
def intruder():
    name = f"cnnkit-intruder-{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        import pwd
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)  # only this account's
        subprocess.run(["userdel", name], check=True)


@pytest.fixture(scope="module")
def hub_course(tmp_path_factory, cifar_dir):
    """A course folder other accounts may list (0755), as on a hub, outside the grading's /tmp."""
    parent = Path(tempfile.mkdtemp(prefix="cnnkit-intruder-course-", dir="/var/tmp"))
    parent.chmod(0o755)
    try:
        directory = course.copy_course(parent / "course")
        course.generate_release(directory)
        directory.chmod(0o755)
        students = write_class(directory)
        yield parent, directory, students
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(parent)])


def _is_kit(path):
    return ROOT.is_relative_to("/tmp") and Path(ROOT).is_relative_to(path) or Path(path).is_relative_to(ROOT)


def _made_before(path, before):
    return any(path == top or path.startswith(top + "/") for top in before)


def _grader_paths(pid, tops, before, most=3000):
    """Every path below tops the grading made, as its namespace sees it (root looks in through /proc)."""
    found = []
    view = Path(f"/proc/{pid}/root")
    for top in tops:
        for root, dirs, names in os.walk(str(view) + top):
            # The kit itself, bound back in when it lives under /tmp, is not the grader's making.
            dirs[:] = [d for d in dirs if not _is_kit(os.path.join(root, d)[len(str(view)):])]
            for name in dirs + names:
                path = os.path.join(root, name)[len(str(view)):]
                if _made_before(path, before):
                    # Whatever was there before grading began (the course, a stale folder a
                    # killed run left in /var/tmp, the host's /tmp bound under /run) is not the
                    # grader's making; nor is anything under it.
                    if name in dirs:
                        dirs.remove(name)
                    continue
                found.append(path)
                if len(found) >= most:
                    return found
    return found


def _wait_for_fresh_tmp(grading, seconds=60):
    """Block until the grading's namespace has its own /tmp and /dev/shm. Until unshare has run
    and mounted them, /proc/PID/ns/mnt is still the machine's: an intruder let in then would
    walk the host's /tmp, full of files that are nobody's grading (a CI run caught this)."""
    deadline = time.monotonic() + seconds
    while grading.poll() is None and time.monotonic() < deadline:
        try:
            if "cnnkit-intruder-shm" in Path(f"/proc/{grading.pid}/mountinfo").read_text():
                return
        except OSError:
            pass
        time.sleep(0.05)
    assert grading.poll() is not None, "the grading's namespace never got its own /tmp"


def test_another_account_reaches_nothing_the_grader_makes(intruder, hub_course):
    uid, gid = intruder
    parent, directory, students = hub_course
    before = {os.path.join(folder, name) for folder in SHARED + (str(directory),) for name in os.listdir(folder)}
    before.add(str(parent))
    # A fresh /tmp in the grading's own mount namespace, so all in it is the grader's. A kit
    # (and its .venv and data) that lives under /tmp, as in a CI clone there, is bound back in.
    keep = Path(tempfile.mkdtemp(prefix="cnnkit-intruder-keep-", dir="/run"))
    script = (f"mount --bind /tmp {keep} && "
              "mount -t tmpfs -o mode=1777,size=4g cnnkit-intruder-tmp /tmp && "
              "mount -t tmpfs -o mode=1777,size=256m cnnkit-intruder-shm /dev/shm && ")
    if ROOT.is_relative_to("/tmp"):
        script += f"mkdir -p {ROOT} && mount --bind {keep / ROOT.relative_to('/tmp')} {ROOT} && "
        before.add("/tmp/" + ROOT.relative_to("/tmp").parts[0])
    script += 'exec "$@"'
    before.add(str(keep))
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            sys.executable, "-m", "cnnkit_tools.grade", submissions.ASSIGNMENT, "--workers", "2",
            "--course", str(directory)]
    log = open(parent / "grade.log", "w")
    grading = subprocess.Popen(argv, cwd=ROOT, env=course.environment(**ENV), stdout=log, stderr=subprocess.STDOUT)
    polls, seen, tried, got = 0, set(), 0, []
    known = []
    try:
        _wait_for_fresh_tmp(grading)
        while grading.poll() is None:
            job = {"watch": list(PRIVATE + SHARED) + [str(directory)], "shared": list(SHARED),
                   "before": sorted(before), "known": known, "secret": list(SECRET_SUFFIXES)}
            done = subprocess.run(["nsenter", f"--mount=/proc/{grading.pid}/ns/mnt", "setpriv",
                                   f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                                   sys.executable, "-I", "-S", "-c", INTRUDER],
                                  input=json.dumps(job),  # on stdin: thousands of paths outgrow argv
                                  capture_output=True, text=True, timeout=120)
            if done.returncode == 0 and done.stdout.strip():
                result = json.loads(done.stdout.strip().splitlines()[-1])
                polls += 1
                seen.update(result["seen"])
                tried += result["tried"]
                got += [g for g in result["got"] if g not in got]
            try:
                made_before = before | {str(parent)}
                known = _grader_paths(grading.pid, PRIVATE, made_before)
                known += [p for p in _grader_paths(grading.pid, SHARED, made_before)
                          if Path(p).name.startswith("cnnkit") or "/cnnkit" in p]
            except OSError:
                pass
            time.sleep(1)
    finally:
        if grading.poll() is None:
            grading.kill()
        grading.wait()
        log.close()
        keep.rmdir()  # only ever a mount point, in the grading's namespace
    grader_folders = sorted({p for p in seen if Path(p).name.startswith("cnnkit")})
    print(f"\nintruder: {polls} polls, {len(seen)} grader entries seen, {tried} attempts, {len(got)} succeeded")
    print("\n".join(got[:40]))
    assert grading.returncode == 0, (parent / "grade.log").read_text()[-3000:]
    assert polls >= 5 and len(grader_folders) >= 3, f"the intruder saw too little: {sorted(seen)[:20]}"
    assert any("cnnkit-task" in p or "cnnkit-submission" in p for p in seen), sorted(seen)[:20]
    assert not got, f"{len(got)} of {tried} attempts succeeded:\n" + "\n".join(got[:60])

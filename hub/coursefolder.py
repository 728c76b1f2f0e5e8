"""The grader account's course folder, the exchange, and a check that the sandbox works there.

The course folder is what nbgrader's docs call the course root: ``nbgrader_config.py``
(which configures the kit's sandboxed grading pipeline), ``source/``, the generated
``release/``, and, as grading goes on, ``submitted/``, ``autograded/``, ``feedback/`` and
``gradebook.db``. It belongs to the grader account and lives in its private home; the
formgrader service runs there. An existing course folder is left as it is: it holds grades.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from cnnkit import data
from cnnkit_tools.course import copy_course

from .settings import ASSIGNMENT, JUPYTER_CONFIG, KIT

GRADER_PACKAGE = "cnnkit_grader"  # loaded by the course's nbgrader_config.py from the course folder


def as_user(user, command, cwd, env=None, check=True):
    """Run ``command`` as ``user`` (we are root), with that user's HOME; output captured."""
    entry = pwd.getpwnam(user)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": entry.pw_dir,
                   "USER": user, "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run(command, cwd=cwd, env=environment, user=entry.pw_uid,
                          group=entry.pw_gid, extra_groups=[], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} (as {user}) failed:\n{done.stdout[-3000:]}")
    return done


def grader_environment(settings):
    """What the grader's nbgrader commands see: the course, the exchange, the data, the budget."""
    return {**settings.course_env, "NBGRADER_COURSE_ID": settings.course_id, **settings.grader_env}


def nbgrader(settings, *args, check=True):
    """``nbgrader ARGS`` as the grader, in the course folder (so its nbgrader_config.py applies)."""
    return as_user(settings.grader, [f"{settings.python_bin}/python", "-m", "nbgrader", *args],
                   cwd=settings.course_dir, env=grader_environment(settings), check=check)


def ensure_ngshare_store(settings):
    """ngshare's database and files: the grader account's, private (0700), kept across restarts."""
    entry = pwd.getpwnam(settings.grader)
    settings.ngshare_store.mkdir(mode=0o700, exist_ok=True)
    os.chown(settings.ngshare_store, entry.pw_uid, entry.pw_gid)
    os.chmod(settings.ngshare_store, 0o700)


def ensure_exchange(settings):
    """The exchange root: world-writable as nbgrader requires, sticky so nobody removes another's folder.

    nbgrader then makes ROOT/<course>/ (the grader's), with outbound/ readable by all, and
    inbound/ and feedback/ writable or passable but not listable by students.
    """
    settings.exchange.mkdir(parents=True, exist_ok=True)
    os.chown(settings.exchange, 0, 0)
    os.chmod(settings.exchange, 0o1777)
    os.chmod(settings.root, 0o755)


def install_jupyter_config(settings):
    """Copy hub/jupyter/ into the hub's root, where every account can read it."""
    target = settings.jupyter_config
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(JUPYTER_CONFIG, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def readable_by(user, path):
    return as_user(user, ["test", "-r", str(path)], cwd="/", check=False).returncode == 0


def ensure_data(settings):
    """CIFAR10_DIR as every account can read it: copied into the hub's root if it is not.

    Returns the folder to use (a clone under /root, say, is out of the accounts' reach).
    """
    if not settings.cifar10_dir:
        return ""
    # CIFAR10_DIR may name cifar-10-batches-py itself or the folder holding it (cnnkit.data)
    batches = data.batches_dir(settings.cifar10_dir)
    if readable_by(settings.grader, batches / "data_batch_1"):
        return settings.cifar10_dir
    copy = Path(settings.root) / "data"
    if not (copy / "cifar-10-batches-py" / "test_batch").exists():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(batches, copy / "cifar-10-batches-py")
    for path in [copy, *copy.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return str(copy)


def ensure_course(settings):
    """Create the course folder (config, source, release, students in the gradebook) if missing."""
    course = settings.course_dir
    grader = pwd.getpwnam(settings.grader)
    if not (course / "nbgrader_config.py").exists():
        copy_course(course, root=KIT)
        if not (course / GRADER_PACKAGE).exists():
            shutil.copytree(KIT / GRADER_PACKAGE, course / GRADER_PACKAGE,
                            ignore=shutil.ignore_patterns("__pycache__"))
        for path in [course, *course.rglob("*")]:
            os.lchown(path, grader.pw_uid, grader.pw_gid)
    if not (course / "release" / ASSIGNMENT).exists():
        nbgrader(settings, "generate_assignment", ASSIGNMENT, "--force")
    for student in settings.students:
        # Adding a student again only updates them; the formgrader lists them from the start.
        nbgrader(settings, "db", "student", "add", student)
    return course


def sandbox_check(settings):
    """None if bubblewrap can isolate processes as the grader account here, else the reason.

    The grader runs unprivileged, so bubblewrap needs unprivileged user namespaces (on
    Ubuntu >= 23.10 AppArmor must also allow them for bwrap; docs/hub.md).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: run hub/install.sh"
    done = as_user(settings.grader, [bwrap, "--unshare-user", "--unshare-net", "--ro-bind", "/", "/",
                                     "--dev", "/dev", "--proc", "/proc", "true"],
                   cwd="/", check=False)
    if done.returncode != 0:
        return f"bubblewrap cannot create a user namespace as {settings.grader}: {done.stdout.strip()}"
    return None

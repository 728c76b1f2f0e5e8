"""Run nbgrader's own commands on a course folder, and read results from its gradebook.

Commands run as subprocesses of the real ``nbgrader`` CLI, in the course folder so its
``nbgrader_config.py`` applies, with this interpreter's ``bin`` first on PATH (nbgrader
starts ``alembic`` and Jupyter kernels by name).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cnnkit import settings

from .submissions import ASSIGNMENT, NOTEBOOK

ROOT = Path(__file__).resolve().parent.parent
COURSE_FILES = ("nbgrader_config.py", "source", "cnnkit_grader", ".cnnkit-secret")
CODE_FILES = ("nbgrader_config.py", "cnnkit_grader")  # what nbgrader runs: its config, and the grader it imports


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds the command and its log's tail."""


def environment(**extra):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def as_account(user, command, env):
    """command run as the account ``user`` (from root), with that account's HOME."""
    import pwd

    entry = pwd.getpwnam(user)
    env["HOME"], env["USER"] = entry.pw_dir, user
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--", *command]


def nbgrader(course_dir, *args, check=True, user=None, **env):
    """Run ``nbgrader ARGS`` in course_dir, as ``user`` if given; return the completed process
    (output captured)."""
    command = [sys.executable, "-m", "nbgrader", *args]
    env = environment(**env)
    if user:
        command = as_account(user, command, env)
    done = subprocess.run(command, cwd=course_dir, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-40:])
        raise NbgraderError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n{tail}")
    return done


def start(course_dir, *args, log, **env):
    """Start ``nbgrader ARGS`` in the background, its output going to the file log."""
    command = [sys.executable, "-m", "nbgrader", *args]
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=course_dir, env=environment(**env),
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    process.args_text, process.log = " ".join(args), Path(log)
    return process


def finish(process):
    """Wait for a started nbgrader command; raise NbgraderError if it failed."""
    if process.wait() != 0:
        tail = "\n".join(process.log.read_text().splitlines()[-40:])
        raise NbgraderError(f"nbgrader {process.args_text} failed (exit {process.returncode}):\n{tail}")
    return process.log.read_text()


def code_root(course_dir):
    """Where a course's code (``CODE_FILES``) is taken from to run it: the course folder, or,
    when this runs as root and another account could change that code there, this kit.

    nbgrader executes the config, and the config imports the grader: code another account can
    change, run as root, is that account's code run as root. A hub's course folder belongs to
    its grader account (instructors have a terminal as it), and the autograding service runs
    as root; so root grades such a course with the kit's own config and grader, which the
    course's copy matches unless someone changed it. Course settings travel in the
    environment (docs/settings.md), not in edits to that copy."""
    course_dir = Path(course_dir)
    if os.geteuid() != 0:
        return course_dir
    paths = [course_dir] + [course_dir / name for name in CODE_FILES]
    grader = course_dir / "cnnkit_grader"
    if grader.is_dir() and not grader.is_symlink():
        paths += list(grader.rglob("*"))
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if info.st_uid != 0 or info.st_mode & 0o022:
            return ROOT
    return course_dir


def copy_course(target, root=ROOT):
    """A fresh course folder at target holding a course's config, source and grader (the
    config and the grader from ``code_root``)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    code = code_root(root)
    for name in COURSE_FILES:
        src = (code if name in CODE_FILES else Path(root)) / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif src.exists():  # the course's secret exists once a submission has been graded here
            shutil.copy2(src, target / name)
    return target


def generate_release(course_dir, **env):
    return nbgrader(course_dir, "generate_assignment", ASSIGNMENT, "--force", **env)


def autograde(course_dir, student=None, **env):
    args = ["autograde", ASSIGNMENT, "--force"] + (["--student", student] if student else [])
    return nbgrader(course_dir, *args, **env)


def generate_feedback(course_dir, student=None, **env):
    args = ["generate_feedback", ASSIGNMENT, "--force"] + (["--student", student] if student else [])
    return nbgrader(course_dir, *args, **env)


def export(course_dir, path="grades.csv", **env):
    nbgrader(course_dir, "export", "--to", str(path), **env)
    return Path(course_dir) / path


def db_url(course_dir):
    """The course folder's own SQLite gradebook, whatever $NBGRADER_DB_URL says."""
    return settings.gradebook_url(course_dir, environ={})


def scores(course_dir, student):
    """``{grade_id: (score, max_score)}`` for the student's autograded test cells."""
    from nbgrader.api import Gradebook

    with Gradebook(settings.gradebook_url(course_dir)) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK[:-len(".ipynb")], ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score)
                for grade in notebook.grades if grade.cell_type == "code"}


def autograded_notebook(course_dir, student):
    return Path(course_dir) / "autograded" / student / ASSIGNMENT / NOTEBOOK


def feedback_html(course_dir, student):
    return Path(course_dir) / "feedback" / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")

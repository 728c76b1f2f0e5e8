"""docs/scale.md's cluster commands, run as written, and the check that refuses a wrong cluster.

The test reads the code block under "Plain `dask worker` processes", splits it at its
comments into what each machine runs, and runs each part with bash on 127.0.0.1 after
replacing only the names the docs leave to the site: the kit's folder, the credentials'
folder, the data folder, the machines' names, the port, and ``./kit`` (run from this kit
with ``--course`` naming the test's course folder). Nothing else is added: if the scheduler
lacked the kit on its path, or a flag were wrong, grading would fail here.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cnnkit_tools import course, submissions
from cnnkit_tools.grade import outcome as outcomes

from courses import make_course

KIT = course.ROOT
ASSIGNMENT = submissions.ASSIGNMENT
PORT = 18190
BUDGET = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "300"}


def documented_sections():
    """{first words of the comment: the lines under it} from docs/scale.md's block."""
    text = (KIT / "docs" / "scale.md").read_text()
    after = text[text.index("### Plain `dask worker` processes"):]
    block = re.search(r"```\n(.*?)```", after, re.S).group(1).replace("\\\n", " ")
    sections, current = {}, None
    for line in block.splitlines():
        if line.startswith("# "):
            current = line[2:].split(" (")[0].split(":")[0]
            sections[current] = []
        elif line.strip():
            sections[current].append(line)
    assert set(sections) == {"once, in /opt/cnn-kit", "on the scheduler's machine",
                             "on each grading machine", "from the course folder"}, sections
    return sections


def localised(lines, kit, tls_dir, cifar_dir, course_dir=None):
    script = "\n".join(["set -e", *lines])
    for site, here in (("/opt/cnn-kit", str(kit)), ("/etc/cnnkit-tls", str(tls_dir)),
                       ("/data/cifar10", str(cifar_dir)), ("grading-head", "127.0.0.1"),
                       ("grading-node", "127.0.0.1"), ("8786", str(PORT))):
        script = script.replace(site, here)
    if course_dir is not None:
        script = re.sub(r"^\./kit grade (.*)$", rf"{KIT}/kit grade \1 --course {course_dir}", script, flags=re.M)
    return script


def clean_env(**extra):
    """The caller's environment without what the docs' commands set themselves, and without what
    an earlier test's Dask nanny wrote into this process's environment (distributed.nanny's
    pre-spawn-environ: OMP_NUM_THREADS=1 there makes `nproc` say 1, so one worker would start)."""
    import dask
    import distributed  # noqa: F401  (loads the nanny's defaults into dask.config)

    leaked = set(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "CIFAR10_DIR") and k not in leaked
           and not k.startswith(("CNNKIT_", "DASK_"))}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv/" not in p)
    return {**env, **extra}


class Machines:
    """The long-running parts (scheduler, workers), each in a process group of its own."""

    def __init__(self, folder):
        self.folder, self.processes = Path(folder), []

    def start(self, name, script, cwd):
        log = open(self.folder / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(["bash", "-c", script], cwd=cwd, env=clean_env(),
                                               stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def wait_for_workers(self, tls_dir, count, timeout=600):  # a loaded CI machine starts workers slowly
        from distributed import Client
        from distributed.security import Security

        security = Security(tls_ca_file=str(tls_dir / "ca.pem"), tls_client_cert=str(tls_dir / "cert.pem"),
                            tls_client_key=str(tls_dir / "key.pem"), require_encryption=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(f"tls://127.0.0.1:{PORT}", security=security, timeout="10s") as client:
                    client.wait_for_workers(count, timeout=max(1, deadline - time.monotonic()))
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("*.log")))

    def stop(self):
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def write_reference(directory):
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")


def grade_as_documented(sections, tls_dir, cifar_dir, directory):
    script = localised(sections["from the course folder"], KIT, tls_dir, cifar_dir, course_dir=directory)
    # The client grades nothing itself; CIFAR10_DIR only spares ./kit building its stand-in.
    return subprocess.run(["bash", "-c", script], cwd=directory, env=clean_env(**BUDGET, CIFAR10_DIR=str(cifar_dir)),
                          capture_output=True, text=True, timeout=1200)


def outcome_rows(directory):
    bind = outcomes.engine(course.db_url(directory))
    try:
        outcomes.ensure(bind)
        return {row.student: row for row in outcomes.read(bind, ASSIGNMENT)}
    finally:
        bind.dispose()


def test_the_documented_cluster_grades_a_submission(tmp_path_factory, cifar_dir):
    sections = documented_sections()
    folder = tmp_path_factory.mktemp("documented_cluster")
    tls_dir = folder / "tls"
    made = subprocess.run(["bash", "-c", localised(sections["once, in /opt/cnn-kit"], KIT, tls_dir, cifar_dir)],
                          cwd=KIT, env=clean_env(), capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    directory = make_course(tmp_path_factory, "documented_class")
    write_reference(directory)
    machines = Machines(folder)
    try:
        machines.start("scheduler", localised(sections["on the scheduler's machine"], KIT, tls_dir, cifar_dir), folder)
        machines.start("workers", localised(sections["on each grading machine"], KIT, tls_dir, cifar_dir), folder)
        machines.wait_for_workers(tls_dir, len(os.sched_getaffinity(0)))
        done = grade_as_documented(sections, tls_dir, cifar_dir, directory)
    finally:
        machines.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + machines.logs()
    assert f"on dask scheduler tls://127.0.0.1:{PORT}" in " ".join(done.stdout.split())
    row = outcome_rows(directory)["reference"]
    assert row.outcome == "graded" and row.worker.startswith("tls://127.0.0.1:")
    assert (directory / "autograded" / "reference" / ASSIGNMENT / submissions.NOTEBOOK).is_file()


def test_a_scheduler_without_the_kit_and_a_mismatched_worker_are_refused(tmp_path_factory, cifar_dir):
    """The docs' commands with the scheduler's PYTHONPATH left out (as docs/scale.md said before)
    and a worker whose kit differs by one line: nothing is graded, and the message says why."""
    sections = documented_sections()
    folder = tmp_path_factory.mktemp("wrong_cluster")
    tls_dir = folder / "tls"
    subprocess.run(["bash", "-c", localised(sections["once, in /opt/cnn-kit"], KIT, tls_dir, cifar_dir)],
                   cwd=KIT, env=clean_env(), check=True, capture_output=True)
    other = folder / "other-kit"
    for package in ("cnnkit", "cnnkit_grader", "cnnkit_tools"):
        shutil.copytree(KIT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    (other / ".venv").symlink_to(KIT / ".venv")
    rules = other / "cnnkit_grader" / "judge" / "rules.py"
    rules.write_text(rules.read_text() + "\n# an older checkout\n")
    scheduler = [line for line in sections["on the scheduler's machine"] if not line.startswith("export PYTHONPATH")]
    scheduler.insert(0, f"export PATH={KIT}/.venv/bin:$PATH")
    directory = make_course(tmp_path_factory, "refused_class")
    write_reference(directory)
    machines = Machines(folder)
    try:
        machines.start("scheduler", localised(scheduler, KIT, tls_dir, cifar_dir), folder)
        machines.start("workers", localised(sections["on each grading machine"], other, tls_dir, cifar_dir), folder)
        machines.wait_for_workers(tls_dir, len(os.sched_getaffinity(0)))
        started = time.monotonic()
        done = grade_as_documented(sections, tls_dir, cifar_dir, directory)
        seconds = time.monotonic() - started
    finally:
        machines.stop()
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:] + machines.logs()
    message = " ".join(done.stderr.split())
    assert "the cluster cannot grade with this kit; nothing was sent" in message
    assert ("the scheduler cannot import cnnkit_tools (ModuleNotFoundError: No module named "
            "'cnnkit_tools'): put the kit's folder, a checkout of the client's commit, on its PYTHONPATH") in message
    assert re.search(rf"worker tls://127\.0\.0\.1:\d+ imports another cnnkit_grader \({other}/cnnkit_grader, "
                     r"\w+; the client's is \w+\): check out the client's commit there and restart it", message)
    assert "cnnkit_tools" not in message.split("worker tls://")[1]  # the workers import the rest alike
    assert outcome_rows(directory) == {} and not (directory / "autograded").exists()
    print(f"\nrefused in {seconds:.0f} s")

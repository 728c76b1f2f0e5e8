"""./kit grade against serial nbgrader: the same class graded four ways must agree.

One small class (the reference, a mutant, an unreadable notebook; smoke budget) is graded
1. serially, by one ``nbgrader autograde`` call: the baseline;
2. by ``./kit grade`` on the local pool (2 workers);
3. through a real ``dask scheduler`` and two ``dask worker`` processes started on loopback
   by the kit's own script, while the test SIGKILLs the worker grading the reference;
4. on the local pool into a real PostgreSQL gradebook (a private server on 127.0.0.1).
Each must give the same per-cell scores, the same ``nbgrader export`` and feedback that
generates, and one cnnkit_outcome row per submission.
"""

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from nbgrader.api import Gradebook

from cnnkit_tools import course, submissions
from cnnkit_tools.lab import mutations
from cnnkit_tools.grade import batch, compare, outcome as outcomes
from cnnkit_tools.servers import dask_cluster, postgres

from courses import make_course

ASSIGNMENT = submissions.ASSIGNMENT
NOTEBOOK = submissions.NOTEBOOK[:-len(".ipynb")]
# Smoke-budget cells take seconds; the generous cell timeout keeps a machine busy with other
# work from timing out one run's cell and not the other's (the comparison is the point here).
BUDGET = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "300"}
KIT = {"PYTHONPATH": str(course.ROOT)}  # the grader package, for a course folder made by copy_course
STAMP = "2026-11-20 10:{minute:02d}:00.000000 UTC"
SCHEDULER_PORT, LOCAL_PORTS, PG_PORT = 18110, "18130-18149", 18150
MSE = next(m for m in mutations.MUTANTS if m.name == "mse_loss")


def write_class(directory, students=None):
    """The class: nbgrader-collected folders, each with its timestamp.txt."""
    reference = submissions.reference(*submissions.source_and_release(directory))
    notebooks = {"reference": reference, "mse_loss": submissions.apply(reference, MSE), "unreadable": None}
    for minute, (student, nb) in enumerate(notebooks.items()):
        if students and student not in students:
            continue
        if nb is None:
            path = submissions.write(reference, directory, student)
            path.write_text('{"cells": [ this is not a notebook')
        else:
            path = submissions.write(nb, directory, student)
        (path.parent / "timestamp.txt").write_text(STAMP.format(minute=minute))
    return sorted(students or notebooks)


def view(url, students):
    return compare.gradebook_view(url, ASSIGNMENT, students)


def export(directory, url):
    csv = course.export(directory, "grades.csv", NBGRADER_DB_URL=url, **KIT)
    return pd.read_csv(csv).sort_values("student_id").reset_index(drop=True)


def autograded_files(directory, student):
    folder = directory / "autograded" / student / ASSIGNMENT
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def feedback_score(directory, student, url):
    course.generate_feedback(directory, student, NBGRADER_DB_URL=url, **KIT)
    html = course.feedback_html(directory, student).read_text()
    return re.search(r"Score: ([\d.]+) / ([\d.]+)", html).groups()


@pytest.fixture(scope="module")
def serial(tmp_path_factory, cifar_dir):
    """The baseline: nbgrader autograde over the whole class, one submission after another."""
    directory = make_course(tmp_path_factory, "serial_class")
    students = write_class(directory)
    started = time.monotonic()
    course.autograde(directory, **BUDGET, **KIT)
    print(f"\nserial nbgrader autograde, {len(students)} submissions: {time.monotonic() - started:.0f} s")
    return directory, course.db_url(directory), students


def grade(directory, url=None, **kw):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**BUDGET, "CNNKIT_GRADE_PORTS": LOCAL_PORTS}.items():
            patch.setenv(name, value)
        if url:
            patch.setenv("NBGRADER_DB_URL", url)
        started = time.monotonic()
        report = batch.grade(directory, ASSIGNMENT, **kw)
        print(f"\n{report.mode}: {len(report.rows)} graded in {time.monotonic() - started:.0f} s")
        return report


@pytest.fixture(scope="module")
def parallel(tmp_path_factory, cifar_dir):
    directory = make_course(tmp_path_factory, "parallel_class")
    write_class(directory)
    report = grade(directory, workers=2)
    return directory, course.db_url(directory), report


def assert_same_as_serial(serial, directory, url, students):
    serial_dir, serial_url, _ = serial
    assert not compare.differences(view(serial_url, students), view(url, students))
    theirs = export(serial_dir, serial_url)
    pd.testing.assert_frame_equal(export(directory, url),
                                  theirs[theirs.student_id.isin(students)].reset_index(drop=True))
    for student in students:
        assert autograded_files(directory, student) == autograded_files(serial_dir, student)


def test_parallel_grades_equal_serial_grades(serial, parallel):
    directory, url, report = parallel
    assert_same_as_serial(serial, directory, url, serial[2])
    assert sorted(row.student for row in report.rows) == serial[2]


def test_parallel_gradebook_serves_feedback_like_serial(serial, parallel):
    directory, url, _ = parallel
    for student in ("reference", "mse_loss"):
        assert feedback_score(directory, student, url) == feedback_score(serial[0], student, serial[1])


def test_every_submission_has_an_outcome_row(parallel):
    directory, url, report = parallel
    bind = outcomes.engine(url)
    rows = {row.student: row for row in outcomes.read(bind, ASSIGNMENT)}
    bind.dispose()
    assert set(rows) == {"reference", "mse_loss", "unreadable"}
    for student, row in rows.items():
        meta = submissions.read(course.autograded_notebook(directory, student)).metadata.get("cnnkit")
        assert row.outcome == (meta["outcome"] if meta else "graded"), student
        assert row.attempts == 1 and row.seconds > 0 and row.worker.startswith("tls://127.0.0.1:")
    assert rows["reference"].outcome == "graded" and rows["reference"].submitted_at == "2026-11-20T10:00:00+00:00"


def test_a_rerun_skips_what_is_graded_and_regrades_a_resubmission(parallel):
    directory, url, _ = parallel
    assert grade(directory, workers=2).skipped == ["mse_loss", "reference", "unreadable"]
    stamp = directory / "submitted" / "unreadable" / ASSIGNMENT / "timestamp.txt"
    stamp.write_text(STAMP.format(minute=59))
    report = grade(directory, workers=2)
    assert [row.student for row in report.rows] == ["unreadable"]
    assert report.skipped == ["mse_loss", "reference"]
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "unreadable").timestamp.minute == 59


@pytest.fixture(scope="module")
def dask_graded(tmp_path_factory, cifar_dir):
    """Grade through a scripted dask cluster; SIGKILL the worker grading the reference."""
    directory = make_course(tmp_path_factory, "dask_class")
    write_class(directory)
    killed = {}
    with dask_cluster.Cluster(SCHEDULER_PORT, 2, tmp_path_factory.mktemp("dask")) as cluster:
        done = {}
        runner = threading.Thread(target=lambda: done.update(
            report=grade(directory, scheduler=cluster.address, tls_files=cluster.tls_files())))
        runner.start()
        killed.update(kill_mid_grade(cluster, "reference", after=8))
        runner.join(timeout=900)
        assert not runner.is_alive(), "grading through dask did not finish"
    return directory, course.db_url(directory), done["report"], killed


def kill_mid_grade(cluster, student, after):
    """SIGKILL the worker process running student's task once it has run ``after`` seconds."""
    from distributed import Client

    prefix = f"grade-{ASSIGNMENT}-{student}-"
    with Client(cluster.address, timeout="30s", security=cluster.credentials.security()) as client:
        deadline, seen = time.monotonic() + 300, None
        while time.monotonic() < deadline:
            running = {worker: key for worker, keys in client.processing().items()
                       for key in keys if str(key).startswith(prefix)}
            if running:
                seen = seen or time.monotonic()
                if time.monotonic() - seen >= after:
                    [(worker, key)] = running.items()
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    return {"worker": worker, "pid": pid, "key": key}
            time.sleep(0.5)
    raise AssertionError(f"{student}'s task never ran long enough to be killed")


def test_dask_grades_equal_serial_grades(serial, dask_graded):
    directory, url, report, _ = dask_graded
    assert report.mode == f"dask scheduler tls://127.0.0.1:{SCHEDULER_PORT}"
    assert_same_as_serial(serial, directory, url, serial[2])


def test_a_worker_killed_mid_grade_loses_nothing(dask_graded):
    directory, url, report, killed = dask_graded
    rows = {row.student: row for row in report.rows}
    assert set(rows) == {"reference", "mse_loss", "unreadable"}
    assert rows["reference"].attempts == 2 and rows["reference"].outcome == "graded"
    assert {rows[s].attempts for s in ("mse_loss", "unreadable")} == {1}
    assert not psutil.pid_exists(killed["pid"]) or psutil.Process(killed["pid"]).status() == "zombie"
    orphans = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
               if {"autograde", "--student", "reference"} <= set(p.info["cmdline"] or ())]
    assert not orphans, f"the killed worker left its nbgrader running: {orphans}"
    leftovers = list(Path(tempfile.gettempdir()).glob(f"cnnkit-task-{killed['pid']}-*"))
    assert not leftovers, f"the killed task's private course was never removed: {leftovers}"


@pytest.fixture(scope="module")
def postgres_graded(tmp_path_factory, cifar_dir):
    try:
        postgres.bindir()
    except postgres.Unavailable:  # a clean machine: the kit's installer (apt, as root)
        subprocess.run([str(postgres.INSTALLER)], check=True)
    # The postgres user must reach the data folder: not under pytest's 0700 temporary folder.
    with tempfile.TemporaryDirectory(prefix="cnnkit-pg-") as folder:
        with postgres.Server(Path(folder), PG_PORT) as server:
            server.reset()
            directory = make_course(tmp_path_factory, "postgres_class")
            course.nbgrader(directory, "generate_assignment", ASSIGNMENT, "--force",
                            NBGRADER_DB_URL=server.url, **KIT)
            students = write_class(directory, ["mse_loss", "unreadable"])
            report = grade(directory, url=server.url, workers=2)
            yield directory, server.url, report, students


def test_parallel_grading_into_postgresql_exports_like_serial_sqlite(serial, postgres_graded):
    directory, url, report, students = postgres_graded
    assert url.startswith("postgresql+psycopg2://") and len(report.rows) == 2
    assert_same_as_serial(serial, directory, url, students)
    bind = outcomes.engine(url)
    assert sorted(row.student for row in outcomes.read(bind, ASSIGNMENT)) == students
    bind.dispose()


def test_a_fresh_clone_gradebook_gets_the_assignment_and_release_stays(tmp_path):
    """gradebook.db is not committed: ./kit grade defines the assignment itself."""
    directory = course.copy_course(tmp_path / "fresh")
    released = Path(course.ROOT) / "release" / ASSIGNMENT / submissions.NOTEBOOK
    (directory / "release" / ASSIGNMENT).mkdir(parents=True)
    copy = directory / "release" / ASSIGNMENT / submissions.NOTEBOOK
    copy.write_bytes(released.read_bytes())
    before = copy.stat().st_mtime_ns
    url = course.db_url(directory)
    assert batch.ensure_assignment(directory, ASSIGNMENT, url) is True
    assert batch.ensure_assignment(directory, ASSIGNMENT, url) is False
    with Gradebook(url) as gradebook:
        [notebook] = gradebook.find_assignment(ASSIGNMENT).notebooks
        assert notebook.name == NOTEBOOK and len(notebook.grade_cells) > 0
    assert copy.stat().st_mtime_ns == before

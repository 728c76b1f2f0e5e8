"""Another account on the grading machine attacks ./kit grade's local pool while it grades.

The test (root) creates an unprivileged account, starts ``./kit grade --workers 2`` on a
small class (smoke budget), waits until a submission is grading, reads every port the grade
process tree listens on (psutil, as root) and hands them to a script run as that account.
For each port the script tries what a local user would: a Dask ``Client`` with no
credentials (tcp://) and with its own self-made ones (tls://), then ``run(os.getuid)`` and
``run_on_scheduler(os.getuid)``; a raw Dask comm asking ``identity`` (worker and nanny
servers speak the scheduler's protocol); and a plain socket that sends bytes and reads.
Every attempt must fail: no handshake, nothing run, no Dask greeting read. The same script
against a LocalCluster started as ./kit grade started it before (no security) runs code as
root, so it cannot pass by failing to attack.
"""

import json
import os
import pwd
import re
import subprocess
import tempfile
import time

import psutil
import pytest

from cnnkit_tools import course, submissions
from cnnkit_tools.lab import mutations
from cnnkit_tools.grade import outcome as outcomes

from courses import make_course

KIT = course.ROOT
ASSIGNMENT = submissions.ASSIGNMENT
ACCOUNT = "cnnkit-intruder"
BUDGET = {"CNNKIT_BUDGET": "smoke", "CNNKIT_CELL_TIMEOUT": "300"}
MSE = next(m for m in mutations.MUTANTS if m.name == "mse_loss")

INTRUDER = r'''
import asyncio, json, os, socket, sys

from distributed import Client
from distributed.comm import connect
from distributed.security import Security

own = Security.temporary()  # the intruder's own CA, key and certificate
HOW = (("tcp", None, "no credentials"), ("tls", own, "own credentials"))


async def identity(address, security):
    args = security.get_connection_args("client") if security else {}
    comm = await connect(address, timeout=5, **args)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def attempt(entry, action):
    try:
        entry["succeeded"] = repr(action())[:300]
    except BaseException as error:  # noqa: BLE001
        entry["failed"] = f"{type(error).__name__}: {error}"[:300]
    return entry


def client_run(address, security):
    with Client(address, security=security, timeout="5s") as client:
        return {"run": client.run(os.getuid), "run_on_scheduler": client.run_on_scheduler(os.getuid)}


def plain(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)))
        data = b""
        try:
            while len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return data


results = []
for port in map(int, sys.argv[1:]):
    for scheme, security, name in HOW:
        address = f"{scheme}://127.0.0.1:{port}"
        results.append(attempt({"port": port, "how": f"dask Client, {name}"},
                               lambda: client_run(address, security)))
        results.append(attempt({"port": port, "how": f"dask comm identity, {name}"},
                               lambda: asyncio.run(identity(address, security))))
    entry = {"port": port, "how": "plain socket"}
    try:
        reply = plain(port)
        entry["reply"] = reply[:200].hex()
        if b"compression" in reply or b"pickle-protocol" in reply or b"HTTP/" in reply:
            entry["succeeded"] = "the server answered: " + repr(reply[:200])
        else:
            entry["failed"] = f"no Dask or HTTP answer ({len(reply)} bytes)"
    except OSError as error:
        entry["failed"] = f"{type(error).__name__}: {error}"
    results.append(entry)
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def intruder():
    """An unprivileged account of its own, with a private home in /tmp; removed after."""
    subprocess.run(["userdel", ACCOUNT], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", ACCOUNT], check=True)
    home = tempfile.mkdtemp(prefix="cnnkit-intruder-")
    account = pwd.getpwnam(ACCOUNT)
    os.chown(home, account.pw_uid, account.pw_gid)
    try:
        yield account, home
    finally:
        subprocess.run(["userdel", ACCOUNT], check=True)
        subprocess.run(["rm", "-rf", home], check=True)


def attack(intruder, ports):
    """Run the intruder's script as the account; its list of attempts."""
    account, home = intruder
    assert account.pw_uid != 0
    done = subprocess.run(
        ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups",
         str(KIT / ".venv" / "bin" / "python"), "-c", INTRUDER, *map(str, ports)],
        cwd=home, env={"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def tree(pid):
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def listening(processes):
    ports = set()
    for process in processes:
        try:
            ports |= {c.laddr.port for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        except psutil.NoSuchProcess:
            pass
    return sorted(ports)


def grading(processes):
    try:
        return any("autograde" in (p.cmdline() or ()) for p in processes)
    except psutil.NoSuchProcess:
        return False


def test_another_account_reaches_nothing_while_the_class_grades(tmp_path_factory, cifar_dir, intruder):
    directory = make_course(tmp_path_factory, "intruded_class")
    reference = submissions.reference(*submissions.source_and_release(directory))
    submissions.write(reference, directory, "reference")
    submissions.write(submissions.apply(reference, MSE), directory, "mse_loss")
    env = {**os.environ, **BUDGET, "CIFAR10_DIR": str(cifar_dir)}
    env.pop("CNNKIT_GRADE_PORTS", None)
    run = subprocess.Popen([str(KIT / "kit"), "grade", ASSIGNMENT, "--workers", "2", "--course", str(directory)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, ports = time.monotonic() + 600, []
        while time.monotonic() < deadline and run.poll() is None:
            processes = tree(run.pid)
            if grading(processes):
                ports = listening(processes)
                if len(ports) >= 5:  # the scheduler, two nannies, two workers
                    break
            time.sleep(1)
        assert len(ports) >= 5 and run.poll() is None, f"never saw the pool grading: {ports}"
        results = attack(intruder, ports)
        still_grading = grading(tree(run.pid))
    finally:
        output, _ = run.communicate(timeout=1800)
    print(f"\n{len(ports)} ports tried: {ports}")
    assert still_grading, "the attack must happen while a submission grades"
    assert {entry["port"] for entry in results} == set(ports)
    assert len(results) == 5 * len(ports) and all("failed" in entry for entry in results)
    breaches = [entry for entry in results if "succeeded" in entry]
    assert not breaches, json.dumps(breaches, indent=1)
    assert run.returncode == 0, output[-3000:]  # and grading went on undisturbed
    bind = outcomes.engine(course.db_url(directory))
    rows = {row.student: row.outcome for row in outcomes.read(bind, ASSIGNMENT)}
    bind.dispose()
    assert rows == {"reference": "graded", "mse_loss": "graded"}


def test_the_same_attack_runs_code_as_root_on_an_unprotected_pool(intruder):
    """The control: the pool as ./kit grade started it before (no security, dashboard off)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster:
        port = int(cluster.scheduler_address.rsplit(":", 1)[1])
        results = attack(intruder, [port])
    breaches = {entry["how"]: entry["succeeded"] for entry in results if "succeeded" in entry}
    assert re.fullmatch(r"\{'run': \{'tcp://127\.0\.0\.1:\d+': 0\}, 'run_on_scheduler': 0\}",
                        breaches["dask Client, no credentials"]), breaches
    assert "pickle-protocol" in breaches["plain socket"] or "compression" in breaches["plain socket"]

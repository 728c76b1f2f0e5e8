"""A dask.distributed cluster on this machine: one ``dask scheduler``, N ``dask worker``s.

    python -m cnnkit_tools.servers.dask_cluster start [--port 18110] [--workers 2] [--dir DIR]
    python -m cnnkit_tools.servers.dask_cluster stop [--dir DIR]

The same commands a hub runs on its machines (docs/scale.md), listening on 127.0.0.1 only:
the tests and ``./kit bench --class`` use it to grade through a real cluster. ``start``
is idempotent: a cluster already answering on the port is left as it is. Each worker gets
``--nthreads 1`` (one submission at a time), a nanny that restarts it if it dies, the kit
on its PYTHONPATH and the caller's CIFAR10_DIR; the scheduler has the kit on its PYTHONPATH
too (it unpickles the tasks). The scheduler gives up on a task after its second worker death
(``allowed-failures`` 1: one retry elsewhere, then a grader error).

Every process speaks TLS with mutual authentication (``--tls-ca-file``, ``--tls-cert``,
``--tls-key``): with the credentials given, else ones ``start`` makes in ``DIR/tls`` (0700,
the key 0600; ``stop`` removes them). A client connects with ``Cluster.tls_files()``, e.g.
``./kit grade A --scheduler tls://127.0.0.1:18110 --tls-ca DIR/tls/ca.pem ...``.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..grade import tls

KIT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 18110
DEFAULT_DIR = Path("/tmp/cnnkit-dask")


def _listening(port, host="127.0.0.1"):
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def environment():
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(KIT_ROOT), env.get("PYTHONPATH")) if p)
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "1"
    # Dask's HTTP servers (started even with --no-dashboard): no pages, on loopback below.
    env["DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"] = env["DASK_DISTRIBUTED__WORKER__HTTP__ROUTES"] = "[]"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


class Cluster:
    """The processes of a scripted cluster; ``stop`` ends exactly them (by process group)."""

    def __init__(self, port=DEFAULT_PORT, workers=2, directory=DEFAULT_DIR, worker_ports=None,
                 credentials=None):
        self.port, self.n_workers, self.directory = port, workers, Path(directory)
        # Each worker and its nanny listen on ports above the scheduler's unless told otherwise.
        self.worker_ports = worker_ports or f"{port + 1}:{port + 1 + 2 * max(workers, 1) + 8}"
        self.address = f"tls://127.0.0.1:{port}"
        self.processes = []
        self.made_credentials = credentials is None
        self.credentials = credentials or tls.Credentials(
            *(str(self.directory / "tls" / name) for name in ("ca.pem", "cert.pem", "key.pem")))

    def tls_files(self):
        """{"ca", "cert", "key"}: what a client presents (batch.grade's tls_files)."""
        return {"ca": self.credentials.ca, "cert": self.credentials.cert, "key": self.credentials.key}

    def _tls_flags(self):
        return ["--tls-ca-file", self.credentials.ca, "--tls-cert", self.credentials.cert,
                "--tls-key", self.credentials.key]

    def _start(self, name, command):
        log = open(self.directory / f"{name}.log", "w")
        process = subprocess.Popen(command, env=environment(), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.directory)
        (self.directory / f"{name}.pid").write_text(str(process.pid))
        self.processes.append(process)
        return process

    def start(self, timeout=90):
        self.directory.mkdir(parents=True, exist_ok=True)
        if _listening(self.port):
            return self  # already running: idempotent
        if self.made_credentials:
            tls.make(self.directory / "tls")
        dask = str(Path(sys.executable).parent / "dask")  # the CLI a hub runs, from this venv
        self._start("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                                  *self._tls_flags()])
        for number in range(self.n_workers):
            self._start(f"worker-{number}", [
                dask, "worker", self.address, *self._tls_flags(),
                "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                "--dashboard-address", "127.0.0.1:0",
                "--worker-port", self.worker_ports, "--nanny-port", self.worker_ports,
                "--name", f"worker-{number}", "--memory-limit", "0",
                "--local-directory", str(self.directory / f"worker-{number}")])
        self.wait(timeout)
        return self

    def wait(self, timeout=90):
        from distributed import Client

        with Client(self.address, timeout=f"{timeout}s", security=self.credentials.security()) as client:
            client.wait_for_workers(self.n_workers, timeout=timeout)
        return self

    def stop(self):
        pids = [p.pid for p in self.processes] or [
            int(f.read_text()) for f in self.directory.glob("*.pid") if f.read_text().strip()]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pidfile in self.directory.glob("*.pid"):
            pidfile.unlink()
        if self.made_credentials:
            shutil.rmtree(self.directory / "tls", ignore_errors=True)

    def worker_pids(self):
        """{worker address: pid of the worker process (not its nanny)}."""
        from distributed import Client

        with Client(self.address, timeout="30s", security=self.credentials.security()) as client:
            return client.run(os.getpid)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.servers.dask_cluster")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    cluster = Cluster(args.port, args.workers, args.dir)
    if args.action == "start":
        cluster.start()
        print(cluster.address)
        for role, path in cluster.tls_files().items():
            print(f"{tls.SETTINGS[role]}={path}")
    else:
        cluster.stop()


if __name__ == "__main__":
    main()

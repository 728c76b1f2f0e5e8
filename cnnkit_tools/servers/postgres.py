"""A throwaway PostgreSQL server on 127.0.0.1, for grading into a real PostgreSQL gradebook.

    python -m cnnkit_tools.servers.postgres start [--port 18150] [--dir DIR]   # prints the URL
    python -m cnnkit_tools.servers.postgres stop [--dir DIR]

Uses apt's ``postgresql`` binaries (scripts/install-postgres installs them; Debian 12 ships
version 15) but never the system's cluster: ``initdb`` makes a new cluster in DIR, owned by
the ``postgres`` user when run as root (PostgreSQL refuses to run as root), listening on
127.0.0.1 and a socket in DIR only. A role and a database for the gradebook are created
in it, with a password (scram-sha-256 over TCP). ``start`` is idempotent.
"""

import argparse
import glob
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 18150
DEFAULT_DIR = Path("/tmp/cnnkit-postgres")
USER, PASSWORD, DATABASE = "cnnkit", "cnnkit-gradebook", "cnnkit_gradebook"
INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "install-postgres"


class Unavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def bindir():
    """The newest installed PostgreSQL's bin folder (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable(f"PostgreSQL is not installed: run {INSTALLER} (as root)")


def _owner():
    """Who runs the server: the postgres user when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _run(command, check=True, **kw):
    owner = _owner()
    if owner:
        command = ["runuser", "-u", owner, "--"] + command
    return subprocess.run(command, check=check, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)


@dataclass
class Server:
    directory: Path = DEFAULT_DIR
    port: int = DEFAULT_PORT

    @property
    def data(self):
        return Path(self.directory) / "data"

    @property
    def url(self):
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _psql(self, sql, database="postgres"):
        return _run([str(bindir() / "psql"), "-h", str(self.directory), "-p", str(self.port),
                     "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql]).stdout.strip()

    def running(self):
        done = _run([str(bindir() / "pg_ctl"), "-D", str(self.data), "status"], check=False)
        return done.returncode == 0

    def start(self):
        bin_ = bindir()
        directory = Path(self.directory)
        directory.mkdir(parents=True, exist_ok=True)
        owner = _owner()
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        directory.chmod(0o700)
        if not (self.data / "PG_VERSION").exists():
            _run([str(bin_ / "initdb"), "-D", str(self.data), "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-U", "postgres", "--encoding=UTF8", "--no-locale"])
        if not self.running():
            options = f"-h 127.0.0.1 -p {self.port} -k {directory}"
            _run([str(bin_ / "pg_ctl"), "-D", str(self.data), "-l", str(directory / "server.log"),
                  "-o", options, "-w", "-t", "60", "start"])
        self._ensure_database()
        return self

    def _ensure_database(self):
        for _ in range(50):
            if _run([str(bindir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    check=False).returncode == 0:
                break
            time.sleep(0.2)
        if not self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'"):
            self._psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        if not self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"):
            self._psql(f"CREATE DATABASE {DATABASE} OWNER {USER}")

    def reset(self):
        """An empty gradebook database (drop and create), for a test's fresh start."""
        self._psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        self._psql(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        return self

    def stop(self):
        if self.data.exists() and self.running():
            _run([str(bindir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.servers.postgres")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    server = Server(args.dir, args.port)
    if args.action == "start":
        print(server.start().url)
    else:
        server.stop()


if __name__ == "__main__":
    main()

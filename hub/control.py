"""Start, stop and report on the course hub: ``./kit hub start|stop|status``.

``start`` (as root) creates what is missing (accounts, the grader's course folder, the
exchange), writes the hub's settings, starts JupyterHub in the background and waits until
it answers, then prints where to log in. ``stop`` ends the hub, which stops everyone's
server, the formgrader service and the proxy; whatever the hub started and left behind is
then ended too. Settings come from CNNKIT_HUB_* variables (hub/settings.py).
"""

import argparse
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cnnkit_grader.boundary.files import alive

from . import accounts, coursefolder
from .settings import ASSIGNMENT, CONFIG_FILE, PROXY_BIN, SETTINGS_VAR, Settings


SERVICE_START_ATTEMPTS = 3


class HubError(RuntimeError):
    """The hub cannot start or stop; the message says why and what to do."""


class ServiceTooSlow(Exception):
    """JupyterHub gave up waiting for the formgrader service and exited."""


def hub_pid(settings):
    try:
        pid = int(settings.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def _get(url, host, token=None, timeout=5):
    """GET a hub URL through the proxy on 127.0.0.1, naming the public host as browsers do."""
    request = urllib.request.Request(url, headers={"Host": host})
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def hub_api(settings, path, token=None):
    return _get(f"http://127.0.0.1:{settings.port}/hub/api/{path}", settings.hub_host, token)


def _listening(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _log_tail(settings, lines=40):
    try:
        return "\n".join(settings.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_prerequisites(settings):
    if os.geteuid() != 0:
        raise HubError("the course hub must start as root: it creates accounts, checks passwords "
                       "(PAM) and runs each person's server as their own account.")
    if not PROXY_BIN.exists():
        raise HubError(f"configurable-http-proxy is missing ({PROXY_BIN}): run `bash hub/install.sh`.")
    if settings.ngshare and not Path(settings.ngshare_python).exists():
        raise HubError(f"ngshare's Python environment is missing ({settings.ngshare_python}): "
                       "run `bash hub/install.sh`.")
    if not Path(settings.python_bin, "jupyterhub-singleuser").exists():
        raise HubError(f"the course's Python environment is missing ({settings.python_bin}): "
                       "run `bash hub/install.sh`.")


def start(settings, reset_passwords=False, timeout=120, out=sys.stdout):
    """Start the hub (if it is not running) and return {user: password} for the logins we know."""
    _check_prerequisites(settings)
    root = Path(settings.root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # people's servers reach the exchange inside it
    passwords = accounts.ensure_accounts(settings, reset_passwords=reset_passwords)
    if hub_pid(settings):
        print(f"The course hub is already running (pid {hub_pid(settings)}).", file=out)
        report(settings, passwords, out)
        return passwords
    coursefolder.ensure_exchange(settings)
    if settings.ngshare:
        coursefolder.ensure_ngshare_store(settings)
        _ensure_service_token(settings)
    coursefolder.install_jupyter_config(settings)
    settings = dataclasses.replace(settings, cifar10_dir=coursefolder.ensure_data(settings))
    coursefolder.ensure_course(settings)
    problem = coursefolder.sandbox_check(settings)
    if problem:
        print(f"WARNING: grading will refuse to run: {problem}. See docs/hub.md (the sandbox).",
              file=out)
    settings.save()
    for attempt in range(1, SERVICE_START_ATTEMPTS + 1):
        try:
            _launch(settings, timeout)
            break
        except ServiceTooSlow:
            # JupyterHub gives a managed service about 10 s to answer, then exits. On a busy
            # machine the formgrader's first start can take longer; the next one is quicker.
            stop(settings, out=open(os.devnull, "w"))
            if attempt == SERVICE_START_ATTEMPTS:
                raise HubError(f"the formgrader service did not start; the hub's log "
                               f"({settings.log_file}) ends:\n{_log_tail(settings)}") from None
            print(f"The formgrader service was slow to start (attempt {attempt}); trying again.",
                  file=out)
    if settings.ngshare:
        _enrol_in_ngshare(settings)
    report(settings, passwords, out)
    return passwords


def _ensure_service_token(settings):
    path = settings.service_token_file
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)


def _ngshare(settings, path, **fields):
    """POST to ngshare as the course's service; returns its JSON answer."""
    request = urllib.request.Request(
        f"{settings.ngshare_url}/{path}", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Authorization": f"token {settings.service_token_file.read_text().strip()}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"{}")


def _enrol_in_ngshare(settings):
    """The course in ngshare, taught by the course's service (where instructors' nbgrader runs)
    and the on-submit service, with every student enrolled: ngshare keeps its own rosters, not
    JupyterHub's groups."""
    made = _ngshare(settings, f"course/{settings.course_id}", instructors=json.dumps([settings.course_id]))
    if not made.get("success") and made.get("message") != "Course already exists":
        raise HubError(f"ngshare did not make the course {settings.course_id}: {made}")
    if settings.autograde:
        # The on-submit service collects and releases feedback as itself: ngshare answers
        # "Permission denied" to anyone not teaching the course. (Also on a restart, when the
        # course exists already.)
        taught = _ngshare(settings, f"instructor/{settings.course_id}/{settings.autograde_service}",
                          first_name=settings.autograde_service, last_name="", email="")
        if not taught.get("success"):
            raise HubError(f"ngshare did not make {settings.autograde_service} an instructor: {taught}")
    for student in settings.students:
        added = _ngshare(settings, f"student/{settings.course_id}/{student}",
                         first_name=student, last_name="", email="")
        if not added.get("success"):
            raise HubError(f"ngshare did not enrol {student}: {added}")


def _launch(settings, timeout):
    """Start JupyterHub in the background; wait until it and the formgrader service answer."""
    env = {"PATH": f"{settings.python_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "LANG": "C.UTF-8", SETTINGS_VAR: str(settings.settings_file)}
    with open(settings.log_file, "ab") as log:
        process = subprocess.Popen([f"{settings.python_bin}/jupyterhub", "-f", str(CONFIG_FILE)],
                                   cwd=settings.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    settings.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = _log_tail(settings, 60)
            if any(f"Cannot connect to {name} service" in tail
                   for name in (settings.course_id, settings.autograde_service)):
                raise ServiceTooSlow()
            raise HubError(f"JupyterHub exited ({process.returncode}); its log "
                           f"({settings.log_file}) ends:\n{_log_tail(settings)}")
        try:
            hub_api(settings, "")
            if (_listening(settings.service_port) and (not settings.ngshare or _listening(settings.ngshare_port))
                    and (not settings.autograde or _listening(settings.autograde_port))):
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if time.monotonic() > deadline:
            stop(settings, out=open(os.devnull, "w"))
            raise HubError(f"JupyterHub did not answer within {timeout} s; its log ends:\n"
                           f"{_log_tail(settings)}")
        time.sleep(0.5)


def report(settings, passwords, out=sys.stdout):
    print(f"Course hub: {settings.url}  (course {settings.course_id}, assignment {ASSIGNMENT})", file=out)
    print(f"Formgrader: {settings.service_url}lab?formgrader=true  (instructors)", file=out)
    if settings.autograde:
        print(f"Grading on submit: {settings.autograde_url}  (everyone; instructors also "
              f"{settings.autograde_url}queue)", file=out)
    print("Log in with a local account's user name and password:", file=out)
    for user in settings.users:
        role = "instructor" if user in settings.instructors else "student"
        password = passwords.get(user, "(the account's own password)")
        print(f"  {user:<20} {role:<11} {password}", file=out)
    print(f"Passwords the kit set: {settings.passwords_file} (root only). "
          f"Hub log: {settings.log_file}. Stop: ./kit hub stop", file=out)


def _hub_processes(settings):
    """Processes our hub started (servers, kernels), found by the hub API URL they were given."""
    marker = f"JUPYTERHUB_API_URL=http://127.0.0.1:{settings.hub_port}/hub/api".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _end(pids, grace=10):
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return pids


def stop(settings, out=sys.stdout, timeout=60):
    """Stop the hub; it stops the servers, the service and the proxy. Returns leftovers ended."""
    pid = hub_pid(settings)
    if pid is None:
        print("The course hub is not running.", file=out)
    else:
        os.kill(pid, signal.SIGTERM)  # JupyterHub then stops every server, the service, the proxy
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)  # reap it if we started it in this process (the tests do)
        except ChildProcessError:
            pass
    leftovers = _hub_processes(settings)
    proxy_pid = Path(settings.root, "jupyterhub-proxy.pid")
    if proxy_pid.exists():
        try:
            leftovers.append(int(proxy_pid.read_text().strip()))
        except ValueError:
            pass
    ended = _end(leftovers)
    if pid is not None:
        print(f"The course hub stopped{f'; also ended {len(ended)} leftover processes' if ended else ''}.",
              file=out)
    settings.pid_file.unlink(missing_ok=True)
    return ended


def status(settings, out=sys.stdout):
    """Print whether the hub runs, and which servers are up; return True when it runs."""
    pid = hub_pid(settings)
    if pid is None:
        print("The course hub is not running.", file=out)
        return False
    try:
        version = hub_api(settings, "")["version"]
    except (OSError, urllib.error.URLError, ValueError, KeyError) as err:
        print(f"JupyterHub runs (pid {pid}) but does not answer at {settings.url}: {err}", file=out)
        return False
    service = "up" if _listening(settings.service_port) else "DOWN"
    running = [user for user in settings.users if _listening(settings.user_port(user))]
    print(f"The course hub runs: JupyterHub {version}, pid {pid}, {settings.url}", file=out)
    print(f"Formgrader service {settings.course_id} ({settings.grader}): {service}", file=out)
    if settings.autograde:
        up = "up" if _listening(settings.autograde_port) else "DOWN"
        print(f"Autograding service {settings.autograde_service} (root): {up}", file=out)
    print(f"Servers running: {', '.join(running) or 'none'}", file=out)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="./kit hub", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--reset-passwords", action="store_true",
                        help="give every course account a new random password")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(Settings.from_environment(), reset_passwords=args.reset_passwords)
            return 0
        settings = Settings.running() or Settings.from_environment()
        if args.command == "stop":
            stop(settings)
            return 0
        return 0 if status(settings) else 3
    except HubError as err:
        print(f"kit hub: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

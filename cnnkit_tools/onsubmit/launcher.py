"""The one part of grading on submit that runs as root: it grades the jobs it is handed, nothing else.

On a hub the course folder, its gradebook and ``autograded/`` belong to the course's account
(``grader-<course>``), which instructors can use from a terminal. A root process that opens
that gradebook or writes in that folder could be led through a link to any file of the
machine. So ``web.py --owner`` splits the service before it starts anything:

- the **child** drops to the course's account and runs everything that touches the course:
  collect, the ledger, the pages, recording grades, feedback and release. Its engine is
  :class:`Remote`, which sends each batch to the parent;
- the **parent** stays root and runs :func:`serve`: it grades what it is sent on the kit's
  local pool (the sandbox's slots need root) and sends the results back. It never opens a
  path of the course folder.

What crosses the socket pair is data, as length-prefixed JSON (bytes in base64), never code
or a pickle. The parent trusts nothing in a request that would run as root:

- the config and the grader come from the kit's clone: of the request's course files it
  keeps only ``source/``, ``release/`` and the course's secret;
- it makes the template gradebook itself, with nbgrader, from those files; only the due
  date comes from the request, as a timestamp. The request's SQLite bytes are dropped;
- the environment keeps only the settings a job carries, by exact name (the settings table's
  ``travels`` column, ``job.shared_environment``); threads and the time limit are clamped;
- student ids, the assignment and every file name are checked: nothing may leave its folder.
"""

import base64
import datetime
import json
import os
import re
import socket
import struct
import tempfile
from pathlib import Path

from .. import course as kit_course
from ..grade import engine as engines, files, job as jobs_, task

LIMIT = 2 * 2**30           # the largest message either side accepts
MAX_JOBS = 64               # submissions in one request (the service sends one per worker)
MAX_COURSE_BYTES = 256 * 2**20  # source/, release/ and the secret
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")  # a student id or an assignment name
COURSE_PARTS = ("source/", "release/")
SECRET = ".cnnkit-secret"


class Refused(ValueError):
    """A request the launcher will not grade; the message says why."""


# ---- the wire: length-prefixed JSON, bytes as base64

def _encode(value):
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, engines.Failure):
        return {"__failure__": [value.kind, value.detail]}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == {"__b64__"} and isinstance(value["__b64__"], str):
            return base64.b64decode(value["__b64__"], validate=True)
        if set(value) == {"__failure__"} and isinstance(value["__failure__"], list):
            return engines.Failure(*map(str, value["__failure__"][:2]))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def send(sock, message):
    data = json.dumps(_encode(message)).encode()
    sock.sendall(struct.pack("!Q", len(data)) + data)


def receive(sock):
    """The next message, or None when the other side has closed."""
    head = _exactly(sock, 8)
    if head is None:
        return None
    (size,) = struct.unpack("!Q", head)
    if size > LIMIT:
        raise Refused(f"a message of {size} bytes: more than {LIMIT}")
    data = _exactly(sock, size)
    if data is None:
        return None
    return _decode(json.loads(data))


def _exactly(sock, size):
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---- the root side

def _name(value, what):
    if not isinstance(value, str) or not NAME.match(value) or ".." in value:
        raise Refused(f"{what} {value!r} is not a plain name")
    return value


def _files(packed, what, keep=None, limit=files.MAX_BYTES):
    """Checked ``{relative path: (mode, bytes)}``: relative, no '..', no special bits, at most
    ``limit`` bytes in all."""
    if not isinstance(packed, dict):
        raise Refused(f"{what} is not a folder's files")
    checked, total = {}, 0
    for relative, entry in packed.items():
        parts = relative.split("/")
        if relative.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in relative:
            raise Refused(f"{what}: the file name {relative!r} leaves its folder")
        if keep and not keep(relative):
            continue
        mode, content = entry
        if not isinstance(mode, int) or not isinstance(content, bytes):
            raise Refused(f"{what}: {relative!r} is not (mode, bytes)")
        total += len(content)
        if total > limit:
            raise Refused(f"{what} holds more than {limit} bytes")
        checked[relative] = (mode & 0o755, content)
    return checked


def _timestamp(value, what):
    if value is None:
        return None
    try:
        return datetime.datetime.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise Refused(f"{what} {value!r} is not a timestamp") from None


def checked_request(request):
    """(shared, jobs) rebuilt from a request with nothing in them that root would run.

    Raises Refused for a request it cannot make safe."""
    try:
        shared, jobs = request["shared"], request["jobs"]
        assignment = _name(shared["assignment"], "the assignment")
        course = _files(shared["course"], "the course", limit=MAX_COURSE_BYTES,
                        keep=lambda name: name.startswith(COURSE_PARTS) or name == SECRET)
        if not isinstance(jobs, list) or len(jobs) > MAX_JOBS:
            raise Refused(f"a request holds at most {MAX_JOBS} submissions")
        course.update(_kit_code())
        due = _timestamp(shared.get("duedate"), "the due date")
        safe = {"assignment": assignment, "course": course,
                "env": {k: v for k, v in jobs_.shared_environment(shared["env"]).items() if isinstance(v, str)},
                "threads": min(max(int(shared["threads"]), 1), os.cpu_count() or 1),
                "kit_digest": task.kit_digest(),
                "timeout": min(max(int(shared["timeout"]), 1), task.DEFAULT_TIMEOUT)}
        own = []
        for job in jobs:
            student = _name(job["student"], "the student id")
            item = {"student": student, "key": f"grade-{assignment}-{student}",
                    "submitted_at": _timestamp(job.get("submitted_at"), "the submission time")}
            item["submission"] = _files(job["submission"], f"{student}'s submission")
            own.append(item)
    except Refused:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise Refused(f"a malformed request: {type(error).__name__}: {error}") from None
    safe["gradebook"] = template_gradebook(course, assignment, due)  # last: it takes seconds
    return safe, own


def _kit_code():
    """The kit's own config (nbgrader runs it): never the course folder's, which another account writes."""
    config = Path(task.KIT_ROOT) / "nbgrader_config.py"
    return {"nbgrader_config.py": (0o644, config.read_bytes())}


def template_gradebook(course, assignment, duedate):
    """The template gradebook, made here from the checked course files and the kit's config
    (``job.template_gradebook``), never taken from the request."""
    with tempfile.TemporaryDirectory(prefix="cnnkit-template-") as scratch:
        return jobs_.template_gradebook(files.unpack(course, Path(scratch) / "course"), assignment, duedate)


def serve(sock, workers=None, make_engine=None):
    """Grade what arrives on ``sock`` until the other side closes it.

    Requests: ``{"kind": "hello"}`` (the pool's size and mode) and ``{"kind": "run", "shared",
    "jobs"}`` (as ``job.make_jobs`` makes them), answered with one ``{"result": [student, result, attempts]}`` per job
    as it finishes, then ``{"done": true}``, or ``{"refused": why}``."""
    make_engine = make_engine or (lambda: engines.Engine(workers=workers))
    engine = None
    try:
        while True:
            try:
                request = receive(sock)
            except Exception as error:  # noqa: BLE001 - bytes no JSON reader takes: end, refusing
                send(sock, {"refused": f"an unreadable message: {type(error).__name__}"})
                return
            if request is None:
                return
            if not isinstance(request, dict):
                send(sock, {"refused": "a request is a JSON object"})
                continue
            engine = engine or make_engine()
            if request.get("kind") == "hello":
                send(sock, {"workers": engine.workers(), "mode": f"{engine.mode}, as root, through the launcher"})
                continue
            try:
                shared, jobs = checked_request(request)
            except Refused as error:
                send(sock, {"refused": str(error)})
                continue
            except kit_course.NbgraderError as error:
                send(sock, {"refused": f"the template gradebook could not be made: {error}"})
                continue
            except Exception as error:  # noqa: BLE001 - a request that breaks the checks ends no service
                send(sock, {"refused": f"a request that could not be checked: {type(error).__name__}: {error}"})
                continue
            for own, result, attempts in engine.run(shared, jobs):
                send(sock, {"result": [own["student"], result, attempts]})
            send(sock, {"done": True})
    finally:
        if engine is not None:
            engine.close()


# ---- the course account's side

class Remote:
    """An engine for ``batch.grade`` that grades through the root launcher on ``sock``.

    The launcher ends only when the hub stops the service (it forwards the signal here too):
    ``stopping`` (the service's stop event) is set as soon as its end is seen, so a grading it
    cut short stays ``grading`` in the ledger and the next start grades it again, rather than
    being finished as a grader error before the forwarded signal arrives."""

    local = True  # the launcher grades on this machine's pool (engine.threads_each)

    def __init__(self, sock, stopping=None):
        self.sock, self.stopping = sock, stopping
        send(sock, {"kind": "hello"})
        answer = self._answer()
        self._workers, self.mode = answer["workers"], answer["mode"]

    def _answer(self):
        answer = receive(self.sock)
        if answer is None or "refused" in answer:
            self._raise(answer)
        return answer

    def _raise(self, answer):
        if answer is None:
            if self.stopping is not None:
                self.stopping.set()
            raise RuntimeError("the grading launcher (root) has stopped")
        raise Refused(answer["refused"])

    def workers(self):
        return self._workers

    def run(self, shared, jobs, fn=None):
        if fn is not None:
            raise ValueError("the launcher grades with the kit's task only")
        by_student = {job["student"]: job for job in jobs}
        try:
            send(self.sock, {"kind": "run", "shared": shared, "jobs": jobs})
        except OSError:  # a broken pipe: the launcher has ended
            self._raise(None)
        done = False
        try:
            while True:
                answer = receive(self.sock)
                if answer is None or "refused" in answer or answer.get("done"):
                    done = True
                    if answer is None or "refused" in answer:
                        self._raise(answer)
                    return
                student, result, attempts = answer["result"]
                yield by_student[student], result, attempts
        finally:
            # Left early (the caller failed): read the rest of this batch, so the next request's
            # answers are not taken for this one's.
            while not done:
                answer = receive(self.sock)
                done = answer is None or "refused" in answer or bool(answer.get("done"))

    def close(self):
        pass  # the launcher's pool lives as long as the service; it ends when this process does


def split(owner):
    """Fork: return ``(socket, None)`` in the child, now running as ``owner``, and
    ``(socket, child pid)`` in the parent, still root."""
    import ctypes
    import pwd
    import signal

    entry = pwd.getpwnam(owner)
    parent_end, child_end = socket.socketpair()
    pid = os.fork()
    if pid:
        child_end.close()
        return parent_end, pid
    parent_end.close()
    os.setgroups(os.getgrouplist(owner, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        os._exit(70)  # could not leave root: run nothing
    # After setuid, which clears it: the service ends with the launcher (SIGTERM, as from the hub).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(0)  # the launcher ended before the line above
    os.environ.update(HOME=entry.pw_dir, USER=owner, LOGNAME=owner)
    return child_end, None

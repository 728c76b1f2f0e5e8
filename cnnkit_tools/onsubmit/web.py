"""The on-submit service as a JupyterHub-managed service: its pages, its API, and the grading loop.

``./kit hub start`` runs ``python -m cnnkit_tools.onsubmit.web COURSE_DIR ASSIGNMENT ...`` as
the hub service ``autograde-<course>`` (hub/jupyterhub_config.py). It listens at once, then
starts the grading loop (``service.run``) in a thread of its own: JupyterHub gives a managed
service a few seconds to answer, and importing and starting the grading engine takes longer;
and the pages must answer while a batch is being graded (grading runs in subprocesses, so the
loop's thread holds the GIL only between them).

Who sees what, with JupyterHub's OAuth (``HubOAuthenticated``, as JupyterHub's own service
examples do): the hub lets in only people whose roles grant ``access:services!service=<name>``
(the course's members); the service then shows each person their own rows only, built from
``board.mine(rows, <their hub name>)``, and the whole queue only to members of the course's
instructor group (``formgrade-<course>``), read from the user model the hub returns (the OAuth
token may read its owner's groups: ``oauth_client_allowed_scopes``). A person's own API token
works for the JSON API (``Authorization: token ...``) with the same rules.

Pages (under the service's prefix): ``/`` (mine), ``/students/NAME`` (NAME's: themselves or an
instructor), ``/queue`` (instructors); the same as JSON under ``/api/submissions``,
``/api/submissions/NAME`` and ``/api/queue``. They refresh themselves every few seconds and
use the hub's own stylesheet, from the hub, so they look like the hub and fetch nothing from
outside the machine.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.escape import xhtml_escape as esc

from cnnkit import settings

from . import board, launcher, ledger, rootonly
from .policy import Policy

REFRESH_SECONDS = 5


class Context:
    """What every handler needs: the ledger, the assignment, the policy, who instructs."""

    def __init__(self, course_dir, assignment, instructors_group, hub_url, workers, prefix):
        self.course_dir, self.assignment = Path(course_dir).resolve(), assignment
        self.instructors_group, self.hub_url, self.workers = instructors_group, hub_url, workers
        self.prefix = prefix
        self.policy = Policy.from_environment()
        self.bind = ledger.engine(settings.gradebook_url(self.course_dir))
        self._ensured = False

    def rows(self):
        if not self._ensured:
            ledger.ensure(self.bind)
            self._ensured = True
        return ledger.rows(self.bind, self.assignment)


class Base(HubOAuthenticated, web.RequestHandler):
    """A request from someone the hub vouches for (a login cookie or their API token)."""

    def initialize(self, context):
        self.context = context

    @property
    def name(self):
        return self.current_user["name"]

    @property
    def instructor(self):
        return self.context.instructors_group in (self.current_user.get("groups") or ())

    def may_see(self, student):
        """Only oneself, or anyone for an instructor: the one rule against leaking rows."""
        if student != self.name and not self.instructor:
            raise web.HTTPError(403, "you may see your own submissions only")

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")  # a page of scores is nobody else's


class Api(Base):
    def get_login_url(self):
        raise web.HTTPError(403)  # an API answers 403, it does not redirect to a login page

    def answer(self, body):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class MyApi(Api):
    @web.authenticated
    def get(self, student=None):
        student = student or self.name
        self.may_see(student)
        c = self.context
        self.answer(board.mine(c.rows(), student, c.policy, c.workers))


class QueueApi(Api):
    @web.authenticated
    def get(self):
        if not self.instructor:
            raise web.HTTPError(403, "instructors only")
        c = self.context
        self.answer(board.course(c.rows(), c.policy, c.workers))


# ---- HTML: plain tables in the hub's own look (its stylesheet, Bootstrap's classes)

STATE_TEXT = {"queued": "waiting to be graded", "grading": "being graded", "graded": "graded",
              "fault": "graded: the notebook did not run to the end", "grader_error": "grader error",
              "superseded": "replaced by a newer submission", "refused": "not graded"}
STATE_CLASS = {"queued": "secondary", "grading": "info", "graded": "success", "fault": "warning",
               "grader_error": "danger", "superseded": "light", "refused": "danger"}


def _minutes(seconds):
    if seconds is None:
        return ""
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"


def _score(entry):
    return f"{entry['score']:g} / {entry['max_score']:g}" if entry["score"] is not None else ""


def _when(text):
    return esc(text[:19].replace("T", " ") + " UTC") if text else ""


def _table(headers, lines):
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in line) + "</tr>" for line in lines)
    return (f'<table class="table table-striped table-sm"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body or '<tr><td colspan=%d>none</td></tr>' % len(headers)}</tbody></table>")


def _state(entry):
    state = entry["state"]
    if state == "graded" and not entry["released_at"]:
        text = "graded, feedback being released"
    elif state in ("graded", "fault") and entry["released_at"]:
        text = STATE_TEXT[state] + "; feedback released"
    else:
        text = STATE_TEXT[state]
    return f'<span class="badge bg-{STATE_CLASS[state]} text-bg-{STATE_CLASS[state]} state-{state}">{esc(text)}</span>'


class Page(Base):
    def page(self, title, body):
        c = self.context
        nav = f'<a href="{c.prefix}">My submissions</a>'
        if self.instructor:
            nav += f' · <a href="{c.prefix}queue">Queue (instructors)</a>'
        self.finish(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<link rel="stylesheet" href="{esc(c.hub_url)}hub/static/css/style.min.css">
</head><body>
<nav class="navbar border-bottom mb-3"><div class="container-fluid">
<a class="navbar-brand" href="{esc(c.hub_url)}hub/home">JupyterHub</a>
<span>{nav} · signed in as <b id="user">{esc(self.name)}</b></span></div></nav>
<div class="container" id="content"><h1>{esc(title)}</h1>{body}</div></body></html>""")


class MyPage(Page):
    @web.authenticated
    def get(self, student=None):
        student = student or self.name
        self.may_see(student)
        c = self.context
        view = board.mine(c.rows(), student, c.policy, c.workers)
        lines = []
        for entry in view["submissions"]:
            place = f"{entry['place']} of {view['queue_length']}" if entry["place"] else ""
            lines.append([_when(entry["timestamp"]), _state(entry), place, esc(_minutes(entry["eta_seconds"])),
                          esc(_score(entry)), f'<span class="message">{esc(entry["message"] or "")}</span>'])
        left = view["attempts_left"]
        limits = ("no limit on graded attempts" if left is None else
                  f'<b id="attempts-left">{left}</b> of {view["attempts_per_day"]} graded attempts left in the last 24 hours')
        if view["cooldown_minutes"]:
            limits += f"; graded attempts at least {view['cooldown_minutes']:g} minutes apart"
        released = any(e["released_at"] for e in view["submissions"])
        hint = (f'<p>Your feedback is released: open <a href="{esc(c.hub_url)}hub/user-redirect/lab">JupyterLab</a>, '
                "Nbgrader &gt; Assignment List, and <i>Fetch Feedback</i>.</p>" if released else "")
        self.page(f"{c.assignment}: submissions of {student}",
                  f"<p>{limits}.</p>{hint}"
                  + _table(["submitted", "state", "place in queue", "feedback in", "score", "message"], lines))


class QueuePage(Page):
    @web.authenticated
    def get(self):
        if not self.instructor:
            raise web.HTTPError(403, "instructors only")
        c = self.context
        view = board.course(c.rows(), c.policy, c.workers)
        t = view["throughput"]

        def line(e):
            return [f'<a href="{c.prefix}students/{esc(e["student"])}">{esc(e["student"])}</a>',
                    _when(e["timestamp"]), _state(e), esc(_score(e)), esc(str(e["place"] or "")),
                    esc(_minutes(e["eta_seconds"])),
                    esc(" ".join(f"{k} {v:g}s" for k, v in e["phases"].items() if v is not None)),
                    esc(e["message"] or "")]

        headers = ["student", "submitted", "state", "score", "place", "feedback in", "phases", "message"]
        counts = ", ".join(f"{n} {state}" for state, n in view["counts"].items() if n)
        costs = ", ".join(f"{seconds:g} s for {size} at once" for size, seconds in t["batch_seconds"].items())
        self.page(f"{c.assignment}: grading on submit",
                  f"<p id='throughput'>{t['graded_last_hour']} graded in the last hour; a batch takes "
                  f"{esc(costs or 'no history yet')} (last {t['from_batches']} batches), each release "
                  f"{t['release_seconds']:g} s; {t['workers']} worker(s). All: {esc(counts or 'none yet')}.</p>"
                  f"<h2>Grading now</h2>{_table(headers, map(line, view['grading']))}"
                  f"<h2>Queue</h2>{_table(headers, map(line, view['queue']))}"
                  f"<h2>Recent outcomes</h2>{_table(headers, map(line, view['recent']))}"
                  f"<h2>Faults and grader errors</h2>{_table(headers, map(line, view['faults']))}")


def make_app(context):
    p = context.prefix
    routes = [(p, MyPage), (p + r"students/([^/]+)", MyPage), (p + "queue", QueuePage),
              (p + "api/submissions", MyApi), (p + r"api/submissions/([^/]+)", MyApi), (p + "api/queue", QueueApi)]
    return web.Application(
        [(path, handler, {"context": context}) for path, handler in routes]
        + [(p + "oauth_callback", HubOAuthCallbackHandler)],
        cookie_secret=os.urandom(32))


# ---- the grading loop, beside the pages

def grade_forever(args, stop):
    """The service's loop until ``stop``; restarted after a crash, which must not end the pages."""
    from . import service  # the grading pipeline: slow to import, so after the pages listen

    remote = None
    while not stop.is_set():
        try:
            if args.launcher is not None and remote is None:
                remote = launcher.Remote(args.launcher, stop)  # the root side's pool, for the service's life
            service.run(args.course_dir, args.assignment, interval=args.interval, stop=stop,
                        workers=args.workers, scheduler=args.scheduler, engine=remote)
        except Exception:  # noqa: BLE001 - logged; the loop starts again (the ledger recovers)
            traceback.print_exc()
            stop.wait(30)


async def serve(args):
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    context = Context(args.course_dir, args.assignment, args.instructors_group, args.hub_url,
                      args.workers or os.cpu_count() or 1, os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    make_app(context).listen(url.port, url.hostname or "127.0.0.1")
    print(f"listening on {url.geturl()}", flush=True)
    stop, done = threading.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the hub stops a service with SIGINT, then SIGTERM
        loop.add_signal_handler(signum, done.set)
    grading = threading.Thread(target=grade_forever, args=(args, stop), name="grading", daemon=True)
    if args.grade:
        grading.start()
    await done.wait()
    stop.set()
    # A pass ends within seconds unless a batch is being graded: the hub does not wait that
    # long, and need not: a grading in flight stays ``grading`` and the next start requeues it.
    if args.grade:
        await loop.run_in_executor(None, grading.join, 5)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.onsubmit.web", description=__doc__.splitlines()[0])
    parser.add_argument("course_dir")
    parser.add_argument("assignment")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes")
    parser.add_argument("--workers", type=int, help="local pool's workers (default: one per core)")
    parser.add_argument("--scheduler", help="an existing Dask scheduler, tls://HOST:PORT (docs/scale.md)")
    parser.add_argument("--instructors-group", required=True, help="the hub group whose members see the queue")
    parser.add_argument("--hub-url", required=True, help="the hub's public URL, for its stylesheet and links")
    parser.add_argument("--owner", help="the course folder's account (started as root): the service runs as it, "
                                        "and only grading stays root, in a launcher it sends jobs to")
    parser.add_argument("--no-grade", dest="grade", action="store_false", help="the pages only")
    args = parser.parse_args(argv)
    args.launcher = None
    if args.owner and args.grade and not args.scheduler:
        if os.geteuid() != 0:
            parser.error("--owner needs root: the launcher grades in the sandbox's slots")
        problems = rootonly.unsafe_code()
        if problems:
            parser.error(rootonly.refusal(problems))
        args.launcher, child = launcher.split(args.owner)
        if child:  # root: grade what the service sends, nothing else, until it ends
            rootonly.drop_foreign_config()  # the service keeps the hub's config; root uses the kit's
            return launch(args.launcher, child, args.workers)
    elif args.owner:
        parser.error("--owner is for the local pool: with --scheduler or --no-grade, start the service "
                     "as the course's account")
    asyncio.run(serve(args))
    return 0


def launch(sock, child, workers):
    """The root side (``launcher.serve``) until the service closes its end; a signal from the
    hub goes on to the service, and ends the launcher's pool."""
    stopping = []

    def forward(signum, frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass
        if not stopping:  # once: a second signal must not cut the pool's own shutdown short
            stopping.append(signum)
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        launcher.serve(sock, workers=workers)
    except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())

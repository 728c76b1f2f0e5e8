"""JupyterHub configuration for one course of this kit, after nbgrader's multi-user setup.

- People log in with their local account's password (PAM, JupyterHub's default); each one's
  JupyterLab runs as that account (the local process spawner).
- The formgrader runs as a hub-managed service named after the course, as the account
  ``grader-<course>``, in the course folder. Group ``formgrade-<course>`` (instructors) may
  use it; group ``nbgrader-<course>`` (students and instructors) takes the course. nbgrader's
  JupyterHubAuthPlugin reads those groups (hub/jupyter/common/nbgrader_config.py).
- The on-submit autograding service ``autograde-<course>`` (cnnkit_tools/onsubmit/web.py)
  runs as root, in the course folder, beside the formgrader: it collects each submission,
  grades it in the kit's sandbox (which, as root, drops every submission to a slot account of
  its own), releases the feedback, and serves the students' and instructors' pages behind the
  hub's OAuth. ``CNNKIT_HUB_AUTOGRADE=off`` leaves it out.
- Users and services get subdomains of ``domain`` (``student1.localhost``): each has an
  origin of its own, which is what lets the formgrader show in its JupyterLab panel under
  JupyterHub >= 4.1 (hub/jupyter/grader/jupyter_server_config.py, docs/hub.md).

Everything that differs between hubs comes from the settings file ``./kit hub start``
writes (hub/settings.py), named by $CNNKIT_HUB_SETTINGS.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub defines get_config when it loads this file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from hub.settings import ASSIGNMENT, KIT, PROXY_BIN, Settings  # noqa: E402
from jupyterhub import objects  # noqa: E402

hub = Settings.load(os.environ["CNNKIT_HUB_SETTINGS"])
course = hub.course_id
root = Path(hub.root)

# ---- where the hub listens, and its state
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = hub.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub.hub_port
if hub.domain:
    c.JupyterHub.subdomain_host = f"http://{hub.hub_host}"
c.JupyterHub.db_url = f"sqlite:///{root / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(root / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub.pid_file)

# ---- the proxy: configurable-http-proxy, installed from npm by hub/install.sh
c.ConfigurableHTTPProxy.command = [str(PROXY_BIN)]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(root / "jupyterhub-proxy.pid")

# ---- who logs in, and how: local accounts and their passwords
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(hub.users)
c.Authenticator.admin_users = set()

# ---- each person's server: JupyterLab as their own account, with the course's tools
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [f"{hub.python_bin}/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
# What a server's own token may do: report activity, and read its owner's groups and the
# course service (nbgrader's JupyterHubAuthPlugin and course list); no more than its owner may.
c.Spawner.server_token_scopes = ["users:activity!user", "read:users:name!user",
                                 "read:users:groups!user", "list:services", "read:services"]

common_env = hub.course_env
c.Spawner.environment = dict(common_env)


def config_path(role):
    """JUPYTER_CONFIG_PATH for a role: its own settings first, then what everyone shares."""
    return os.pathsep.join([str(hub.jupyter_config / role), str(hub.jupyter_config / "common")])


def pre_spawn(spawner):
    """Give each server a fixed port, and the settings of its owner's role."""
    name = spawner.user.name
    spawner.port = hub.user_port(name)
    role = "instructor" if name in hub.instructors else "student"
    # a new dict: the configured one is shared by every spawner
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": config_path(role)}


c.Spawner.pre_spawn_hook = pre_spawn

# ---- the course: groups, the grader service, and what each may do
c.JupyterHub.load_groups = {
    # The grader account is a hub user too (it never logs in: its password is locked), so
    # that nbgrader, running as it, finds its course through its groups like anyone else.
    f"formgrade-{course}": {"users": [*hub.instructors, hub.grader]},
    f"nbgrader-{course}": {"users": list(hub.users)},
}

grader_env = {
    **common_env,
    **{key: value for key, value in hub.grader_env.items()},
    "JUPYTER_CONFIG_PATH": config_path("grader"),
    "JUPYTERHUB_USER": hub.grader,  # nbgrader's JupyterHubAuthPlugin names the caller by it
    "JUPYTERHUB_DEFAULT_URL": "/lab",
    "NBGRADER_COURSE_ID": course,
    "CNNKIT_HUB_SUBDOMAINS": "on" if hub.domain else "off",
}
c.JupyterHub.services = [
    {
        "name": course,  # nbgrader's docs: the service is named after the course
        "url": f"http://127.0.0.1:{hub.service_port}",
        "command": [f"{hub.python_bin}/jupyterhub-singleuser"],
        "user": hub.grader,
        "cwd": str(hub.course_dir),
        "environment": grader_env,
        "oauth_no_confirm": True,  # the course's own formgrader, not a third-party app
        "display": True,
    },
]
if hub.ngshare:
    # ./kit hub start enrols the course's people in ngshare as this service (hub/control.py)
    c.JupyterHub.services[0]["api_token"] = hub.service_token_file.read_text().strip()

# ngshare keeps the exchange in its own database and checks each caller's hub token, so no
# account can read or replace another's files in a shared folder. It runs as the grader
# account, with its state in that account's home. Its own start-up listens on every interface
# (for a proxy in another pod); the launcher keeps it on loopback, where servers call it.
NGSHARE_ON_LOOPBACK = (
    "import sys, tornado.httpserver as h; listen = h.HTTPServer.listen; "
    "h.HTTPServer.listen = lambda self, port, address='', *a, **k: listen(self, port, '127.0.0.1', *a, **k); "
    "from ngshare.ngshare import main; main(sys.argv[1:])")
if hub.ngshare:
    c.JupyterHub.services.append({
        "name": "ngshare",
        "url": f"http://127.0.0.1:{hub.ngshare_port}",
        "command": [hub.ngshare_python, "-c", NGSHARE_ON_LOOPBACK,
                    "--database", f"sqlite:///{hub.ngshare_store / 'ngshare.db'}",
                    "--storage", str(hub.ngshare_store / "files"),
                    # the course's service (the formgrader) is who nbgrader is, there
                    "--admins", course],
        "user": hub.grader,
        "cwd": str(hub.ngshare_store),
        "environment": {"PATH": f"{Path(hub.ngshare_python).parent}:/usr/bin:/bin"},
    })

# The on-submit autograding service. Started as root (no "user"), it splits at once
# (cnnkit_tools/onsubmit/launcher.py): the service itself (pages, ledger, collect, grades,
# feedback, release) drops to the grader account (--owner), and only its grading launcher
# stays root: the kit's sandbox puts each submission in a slot of its own (an unprivileged
# account per slot, bubblewrap, setpriv, a control group), which an unprivileged process
# cannot. The launcher takes jobs as data and grades them with the kit's config and grader,
# never the course folder's, and opens no path there. cnnkit_tools comes from the kit's clone
# (the course's environment has cnnkit and cnnkit_grader only).
if hub.autograde:
    c.JupyterHub.services.append({
        "name": hub.autograde_service,
        "url": f"http://127.0.0.1:{hub.autograde_port}",
        "command": [f"{hub.python_bin}/python", "-m", "cnnkit_tools.onsubmit.web", str(hub.course_dir),
                    ASSIGNMENT, "--interval", f"{hub.autograde_interval:g}",
                    "--instructors-group", f"formgrade-{course}", "--hub-url", hub.url,
                    "--owner", hub.grader],
        # Not in the course folder, which the grader account can write: python -m would import
        # from there first (PYTHONSAFEPATH keeps the working folder off the path as well).
        "cwd": str(KIT),
        "environment": {**grader_env, "PYTHONPATH": str(KIT), "PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"},
        # the OAuth token a person's browser gets may read that person's groups (is it an
        # instructor?) and nothing else
        "oauth_client_allowed_scopes": ["read:users:groups!user"],
        "oauth_no_confirm": True,
        "display": True,
    })


def _patient_wait_up(wait_up):
    """Server.wait_up, giving the formgrader service 12 s per check instead of 1.

    JupyterHub checks a managed service 10 times with a 1 s timeout each, then exits. The
    formgrader (Jupyter Server, JupyterLab and nbgrader) can need longer on a busy machine,
    mostly importing; this lets it have up to two minutes, and changes nothing else.
    """
    def patient(server, *args, **kwargs):
        if server.port in (hub.service_port, hub.ngshare_port, hub.autograde_port) and not args:
            kwargs["timeout"] = max(kwargs.get("timeout", 10), 12)
        return wait_up(server, *args, **kwargs)
    return patient


objects.Server.wait_up = _patient_wait_up(objects.Server.wait_up)

c.JupyterHub.load_roles = [
    {
        # instructors: use the formgrader
        "name": f"formgrade-{course}",
        "groups": [f"formgrade-{course}"],
        "scopes": [f"access:services!service={course}", "list:services",
                   f"read:services!service={course}"],
    },
    {
        # everyone in the course: find the course's service; see their own submissions on the
        # autograding service's pages (it shows each person their own rows only)
        "name": f"nbgrader-{course}",
        "groups": [f"nbgrader-{course}"],
        "scopes": ["list:services", f"read:services!service={course}"]
        + ([f"access:services!service={hub.autograde_service}",
            f"read:services!service={hub.autograde_service}"] if hub.autograde else []),
    },
    {
        # the formgrader itself: read who is in which course, enrol students in it
        "name": f"grader-{course}",
        "services": [course],
        "scopes": ["list:users", "read:users:name", "read:users:groups", "list:groups",
                   "read:groups", f"groups!group=nbgrader-{course}"],
    },
]

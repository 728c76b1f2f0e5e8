"""The course's people, as HTTP clients of the hub: log in, get a token, use the servers.

Each person logs in through the hub's login form with their account's password (PAM),
then asks the hub for an API token as the hub's /hub/token page does, and uses that token
for the REST calls a browser extension would make: the hub's API, their own server (the
contents API, nbgrader's assignment and validation endpoints), and for instructors the
formgrader service's API.
"""

import re
import time
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

TIMEOUT = 60


class SubdomainsOnLoopback(HTTPAdapter):
    """Send requests for ``*.localhost`` to 127.0.0.1 with their Host header kept.

    Browsers resolve every ``*.localhost`` name to the loopback address; the C library here
    knows only ``localhost`` itself. The hub gives each user and service such a subdomain.
    """

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if parts.hostname and parts.hostname.endswith(".localhost"):
            request.headers["Host"] = parts.netloc
            request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port or 80}"))
        return super().send(request, **kwargs)


def session(token=None):
    s = requests.Session()
    s.mount("http://", SubdomainsOnLoopback())
    if token:
        s.headers["Authorization"] = f"token {token}"
    return s


class Person:
    """One account of the course, logged in to the hub over HTTP."""

    def __init__(self, settings, name, password):
        self.settings, self.name, self.password = settings, name, password
        self.token = None
        self.http = session()

    def __repr__(self):
        return f"Person({self.name})"

    # ---- the hub
    def login(self):
        """Log in with the password, then ask the hub for an API token (as /hub/token does)."""
        hub = session()
        url = self.settings.url
        hub.get(f"{url}hub/login", timeout=TIMEOUT).raise_for_status()
        done = hub.post(f"{url}hub/login", allow_redirects=False, timeout=TIMEOUT,
                        data={"username": self.name, "password": self.password,
                              "_xsrf": hub.cookies.get("_xsrf")})
        if done.status_code != 302:
            raise AssertionError(f"{self.name} could not log in: {done.status_code} {done.text[:300]}")
        # The hub scopes its session cookie to Domain=localhost, which Python's cookie jar,
        # unlike a browser, never sends back to "localhost"; keep it for every host instead.
        for cookie in [c for c in hub.cookies if c.domain == f".{self.settings.domain}"]:
            hub.cookies.set(cookie.name, cookie.value, path=cookie.path)
        page = hub.get(f"{url}hub/token", timeout=TIMEOUT)
        page.raise_for_status()
        xsrf = re.search(r'xsrf_token: "([^"]+)"', page.text).group(1)
        made = hub.post(f"{url}hub/api/users/{self.name}/tokens", timeout=TIMEOUT,
                        json={"note": "course end-to-end test", "expires_in": 3600},
                        headers={"X-XSRFToken": xsrf})
        made.raise_for_status()
        self.token = made.json()["token"]
        self.http = session(self.token)
        return self

    def hub_api(self, method, path, **kwargs):
        return self.http.request(method, f"{self.settings.url}hub/api/{path}", timeout=TIMEOUT, **kwargs)

    def start_server(self, timeout=120):
        """Start this person's JupyterLab (as the hub's Start button does) and wait until it is ready."""
        started = self.hub_api("POST", f"users/{self.name}/server")
        if started.status_code not in (201, 202, 400):  # 400: already running
            raise AssertionError(f"{self.name}'s server did not start: {started.status_code} {started.text}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.hub_api("GET", f"users/{self.name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise AssertionError(f"{self.name}'s server was not ready within {timeout} s")

    # ---- their own server
    @property
    def server_url(self):
        return self.settings.user_url(self.name)

    def server(self, method, path, timeout=TIMEOUT, **kwargs):
        """A request to this person's own server (path relative to /user/<name>/)."""
        return self.http.request(method, self.server_url + path, timeout=timeout, **kwargs)

    def server_of(self, other, method, path, **kwargs):
        """The same request, sent to someone else's server."""
        return self.http.request(method, self.settings.user_url(other) + path, timeout=TIMEOUT, **kwargs)

    # ---- the course's formgrader service
    def formgrader(self, method, path, timeout=TIMEOUT, **kwargs):
        return self.http.request(method, f"{self.settings.service_url}formgrader/api/{path}",
                                 timeout=timeout, **kwargs)

"""What one course hub is: where its state lives, its port, its course and its people.

``./kit hub start`` reads the ``CNNKIT_HUB_*`` environment variables (defaults below), and
writes the result to ``ROOT/hub.json``; ``hub/jupyterhub_config.py`` reads that file, so
the hub and the script that prepared it never disagree. Tests build a Settings of their own.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnkit import settings as kit_settings
from cnnkit.kernel_env import KERNEL_ENV

KIT = Path(__file__).resolve().parent.parent
CONFIG_FILE = KIT / "hub" / "jupyterhub_config.py"
JUPYTER_CONFIG = KIT / "hub" / "jupyter"  # copied to Settings.jupyter_config at start
PROXY_BIN = KIT / "hub" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
ASSIGNMENT = "compile_and_train"
SETTINGS_VAR = "CNNKIT_HUB_SETTINGS"
# Settings of the grader's pipeline (nbgrader_config.py, cnnkit_grader), the on-submit policy
# and the pool (cnnkit_tools.onsubmit, cnnkit_tools.grade) that the hub passes on to its grader
# and autograding services when its starter has them set: the settings table's ``to_grader`` rows.
GRADER_ENV = tuple(setting.name for setting in kit_settings.SETTINGS if setting.to_grader)


def _words(value):
    return tuple(value.split())


@dataclass(frozen=True)
class Settings:
    root: str                        # hub state: database, cookie secret, logs, passwords, exchange
    # Defaults are the settings table's (cnnkit/settings.py, docs/settings.md).
    port: int = int(kit_settings.default("CNNKIT_HUB_PORT"))  # the proxy's public port; the hub's own ports follow it
    domain: str = kit_settings.default("CNNKIT_HUB_DOMAIN")   # users get <name>.<domain>; "" turns subdomains off
    course_id: str = kit_settings.default("CNNKIT_HUB_COURSE")
    instructors: tuple = _words(kit_settings.default("CNNKIT_HUB_INSTRUCTORS"))
    students: tuple = _words(kit_settings.default("CNNKIT_HUB_STUDENTS"))
    home_base: str = kit_settings.default("CNNKIT_HUB_HOMES")  # each account's home is home_base/<name>
    cifar10_dir: str = ""            # CIFAR-10 on disk, for students' kernels and the grader
    budget: str = ""                 # CNNKIT_BUDGET for every server ("" = each context's own)
    python_bin: str = kit_settings.default("CNNKIT_HUB_ENV") + "/bin"  # the course's Python: hub/install.sh makes it
    grader_env: dict = field(default_factory=dict)
    exchange_kind: str = kit_settings.default("CNNKIT_HUB_EXCHANGE")  # "folder": nbgrader's shared folder; "ngshare": the ngshare service
    autograde: bool = True           # the on-submit autograding service (docs/onsubmit.md)
    autograde_interval: float = float(kit_settings.default("CNNKIT_HUB_AUTOGRADE_INTERVAL"))  # seconds between its passes

    # ---- derived names and places
    @property
    def grader(self):
        """The account the formgrader service runs as (nbgrader's docs: grader-<course>)."""
        return f"grader-{self.course_id}"

    @property
    def users(self):
        """Everyone who logs in, in a fixed order (their servers' ports follow it)."""
        return tuple(self.instructors) + tuple(self.students)

    def home(self, user):
        return Path(self.home_base) / user

    @property
    def course_dir(self):
        return self.home(self.grader) / self.course_id

    @property
    def jupyter_config(self):
        """hub/jupyter/, copied where every account can read it."""
        return Path(self.root) / "jupyter"

    @property
    def exchange(self):
        return Path(self.root) / "exchange"

    @property
    def ngshare(self):
        return self.exchange_kind == "ngshare"

    @property
    def ngshare_url(self):
        """What nbgrader's ngshare exchange calls: the service itself, on loopback."""
        return f"http://127.0.0.1:{self.ngshare_port}/services/ngshare"

    @property
    def course_env(self):
        """What every server of the hub and the grader's own commands see: the course's Python,
        the exchange, the data and the budget, and the allocator setting every kernel that
        trains starts with (``cnnkit.kernel_env``)."""
        env = {"PATH": f"{self.python_bin}:/usr/bin:/bin", "NBGRADER_EXCHANGE_ROOT": str(self.exchange),
               "TF_CPP_MIN_LOG_LEVEL": "3", **KERNEL_ENV}
        if self.cifar10_dir:
            env["CIFAR10_DIR"] = self.cifar10_dir
        if self.budget:
            env["CNNKIT_BUDGET"] = self.budget
        if self.ngshare:
            # nbgrader's exchange through the ngshare service (cnnkit_grader/plugins/exchange.py)
            env["CNNKIT_NGSHARE_URL"] = self.ngshare_url
        return env

    @property
    def ngshare_python(self):
        """ngshare's own environment, beside the course's (hub/install.sh, requirements-ngshare.lock)."""
        return str(Path(self.python_bin).parent.parent / "ngshare-venv" / "bin" / "python")

    @property
    def ngshare_store(self):
        """ngshare's database and files: the grader account's, in its home (mode 0700)."""
        return self.home(self.grader) / ".ngshare"

    @property
    def autograde_service(self):
        """The on-submit autograding service's name (hub/jupyterhub_config.py)."""
        return f"autograde-{self.course_id}"

    @property
    def autograde_url(self):
        name = self.autograde_service
        host = f"{name}--service.{self.hub_host}" if self.domain else self.hub_host
        return f"http://{host}/services/{name}/"

    @property
    def hub_host(self):
        return f"{self.domain or '127.0.0.1'}:{self.port}"

    @property
    def url(self):
        return f"http://{self.hub_host}/"

    def user_url(self, user):
        host = f"{user}.{self.hub_host}" if self.domain else self.hub_host
        return f"http://{host}/user/{user}/"

    @property
    def service_url(self):
        """The grader service (the course's formgrader), on its own subdomain when enabled."""
        host = f"{self.course_id}--service.{self.hub_host}" if self.domain else self.hub_host
        return f"http://{host}/services/{self.course_id}/"

    # ---- ports: everything the hub listens on is in [port, port + 10 + number of users)
    @property
    def proxy_api_port(self):
        return self.port + 1

    @property
    def hub_port(self):
        return self.port + 2

    @property
    def service_port(self):
        return self.port + 3

    @property
    def ngshare_port(self):
        return self.port + 4

    @property
    def autograde_port(self):
        return self.port + 5

    def user_port(self, user):
        return self.port + 10 + self.users.index(user)

    # ---- files
    @property
    def settings_file(self):
        return Path(self.root) / "hub.json"

    @property
    def passwords_file(self):
        return Path(self.root) / "passwords.txt"

    @property
    def pid_file(self):
        return Path(self.root) / "jupyterhub.pid"

    @property
    def log_file(self):
        return Path(self.root) / "jupyterhub.log"

    @property
    def service_token_file(self):
        """The course service's hub API token (root only): how ./kit hub start enrols the
        course's people in ngshare as that service, which ngshare takes as its admin."""
        return Path(self.root) / "course-service-token"

    @property
    def status_token_file(self):
        return Path(self.root) / "status-token"

    def save(self):
        Path(self.root).mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return self.settings_file

    @classmethod
    def load(cls, path):
        data = json.loads(Path(path).read_text())
        for key in ("instructors", "students"):
            data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_environment(cls, env=os.environ):
        """The hub ``./kit hub start`` runs: CNNKIT_HUB_* variables, else the defaults above."""
        default = cls(root="")
        return cls(
            root=env.get("CNNKIT_HUB_ROOT", kit_settings.default("CNNKIT_HUB_ROOT")),
            port=int(env.get("CNNKIT_HUB_PORT", default.port)),
            domain=env.get("CNNKIT_HUB_DOMAIN", default.domain),
            course_id=env.get("CNNKIT_HUB_COURSE", default.course_id),
            instructors=_words(env.get("CNNKIT_HUB_INSTRUCTORS", " ".join(default.instructors))),
            students=_words(env.get("CNNKIT_HUB_STUDENTS", " ".join(default.students))),
            home_base=env.get("CNNKIT_HUB_HOMES", default.home_base),
            cifar10_dir=env.get("CIFAR10_DIR", ""),
            budget=env.get("CNNKIT_BUDGET", ""),
            grader_env={key: env[key] for key in GRADER_ENV if key in env},
            python_bin=str(Path(env.get("CNNKIT_HUB_ENV", kit_settings.default("CNNKIT_HUB_ENV"))) / "bin"),
            exchange_kind=env.get("CNNKIT_HUB_EXCHANGE", default.exchange_kind),
            autograde=env.get("CNNKIT_HUB_AUTOGRADE", kit_settings.default("CNNKIT_HUB_AUTOGRADE")).strip().lower()
            not in ("off", "0", "no", "false"),
            autograde_interval=float(env.get("CNNKIT_HUB_AUTOGRADE_INTERVAL", default.autograde_interval)),
        )

    @classmethod
    def running(cls, env=os.environ):
        """The settings a started hub saved, for ``stop`` and ``status``."""
        root = env.get("CNNKIT_HUB_ROOT", kit_settings.default("CNNKIT_HUB_ROOT"))
        saved = Path(root) / "hub.json"
        return cls.load(saved) if saved.exists() else None

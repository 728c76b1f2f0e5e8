"""Run untrusted grading processes in a bubblewrap sandbox.

A sandboxed process sees a read-only system, Python and ``cnnkit``, the CIFAR-10 training
batches (never the test batch, which is the held-out set), and only the folders it is given
to write to. It has its own network namespace with nothing in it, its own process and IPC
namespaces, a private ``/tmp``, and limits on memory, file size and process count. When the
grader runs as root, the process also drops to the unprivileged ``$CNNKIT_SANDBOX_USER``
(default ``nbgrader-sandbox``) inside the sandbox, so file permissions protect too.

``CNNKIT_SANDBOX=off`` turns all of this off, for a machine where it cannot work; every
grade run then warns loudly, and every feedback page says so (see ``execute``).
"""

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from cnnkit import budget as budgets
from cnnkit import data

MODE_VAR = "CNNKIT_SANDBOX"
USER_VAR = "CNNKIT_SANDBOX_USER"
DEFAULT_USER = "nbgrader-sandbox"
DATA_MOUNT = "/data"            # where the training batches appear inside; no host path leaks
MEMORY_LIMIT = 6 * 2**30        # address space; TensorFlow maps ~3 GiB it never touches
FILE_SIZE_LIMIT = 2**30         # largest file a sandboxed process may write
PROCESS_LIMIT = 512             # per user: stops a fork bomb, leaves TensorFlow its threads
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
PASSED_ENV = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "OMP_NUM_THREADS")

UNSAFE_WARNING = ("WARNING: CNNKIT_SANDBOX=off, so student code ran WITHOUT isolation: it "
                  "could read the hidden tests and the gradebook, and reach the network.")


class IsolationError(RuntimeError):
    """The sandbox cannot be set up; the message says what is missing and how to fix it."""


def enabled():
    return os.environ.get(MODE_VAR, "on").lower() not in ("off", "0", "false", "no")


def sandbox_user():
    """(uid, gid) to drop to when running as root, or None when not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(USER_VAR, DEFAULT_USER)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise IsolationError(
            f"the sandbox user {name!r} does not exist. Create it once as root with "
            f"`useradd --system --no-create-home --shell /usr/sbin/nologin {name}` "
            f"(./kit setup does), or name another unprivileged user in ${USER_VAR}.") from None
    if entry.pw_uid == 0:
        raise IsolationError(f"${USER_VAR}={name!r} is root; it must be an unprivileged user.")
    return entry.pw_uid, entry.pw_gid


def _python_dirs():
    import cnnkit

    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
            Path(cnnkit.__file__).resolve().parent, Path(__file__).resolve().parent}
    return sorted(dirs)


def _training_files():
    folder = data.local_batches_dir()
    if folder is None:
        raise IsolationError(
            f"sandboxed grading needs CIFAR-10 on disk: set {data.ENV_VAR} to the folder holding "
            "cifar-10-batches-py/ (the sandbox has no network to download it).")
    files = [folder / name for name in data.TRAIN_BATCHES + ("batches.meta",)]
    return [(path, f"{DATA_MOUNT}/cifar-10-batches-py/{path.name}") for path in files if path.exists()]


def command(argv, writable=(), readonly=(), cwd=None, memory=MEMORY_LIMIT, with_data=True, env=None):
    """The command line that runs ``argv`` sandboxed, seeing ``readonly`` and ``writable`` folders too."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise IsolationError("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` "
                             "(./kit setup does this when run as root).")
    args = ["prlimit", f"--as={memory}", f"--fsize={FILE_SIZE_LIMIT}", "--core=0", "--", bwrap,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "sandbox", "--clearenv",
            "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    if os.geteuid() != 0:
        args.append("--unshare-user")  # an unprivileged user gets its namespaces this way
    for path in SYSTEM_DIRS:
        args += ["--ro-bind-try", path, path]
    binds = [("--ro-bind", path, path) for path in _python_dirs()]
    if with_data:
        binds += [("--ro-bind", source, target) for source, target in _training_files()]
    binds += [("--ro-bind", path, path) for path in readonly]
    binds += [("--bind", path, path) for path in writable]
    made = set()
    for kind, source, target in binds:
        # bwrap would create missing parents as 0700 root folders the sandbox user cannot cross.
        for parent in reversed(Path(target).parents):
            if str(parent) not in made and str(parent) not in ("/", "/tmp") + SYSTEM_DIRS:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += [kind, str(source), str(target)]
    environment = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp",
                   "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "LANG": "C.UTF-8",
                   "PYTHONNOUSERSITE": "1", data.ENV_VAR: DATA_MOUNT,
                   "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                   # The budget the grader judges by, resolved here: the kernel cannot see
                   # NBGRADER_EXECUTION, and must train exactly as the verdicts expect.
                   "CNNKIT_BUDGET": budgets.current().name}
    environment.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    environment.update(env or {})
    for key, value in environment.items():
        args += ["--setenv", key, str(value)]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    user = sandbox_user()
    if user is not None:
        uid, gid = user
        # bwrap mounts as root; setpriv then drops to the sandbox user for good.
        args += ["--", "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                 "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
                 "prlimit", f"--nproc={PROCESS_LIMIT}", "--"]
    else:
        args += ["--"]
    return args + list(argv)


def give(path):
    """Let the sandbox user write to path (a folder we created for it)."""
    user = sandbox_user()
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, *user)


def take_back(path):
    """Return path to the grader's own user once the sandbox is done with it."""
    if sandbox_user() is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, os.geteuid(), os.getegid())


_PROBE = r"""
import os, socket, sys
problems = []
if os.geteuid() == 0:
    problems.append("runs as root")
for path in sys.argv[1:]:
    if os.path.exists(path):
        problems.append("can see " + path)
if os.path.isdir("/sys/class/net") and set(os.listdir("/sys/class/net")) - {"lo"}:
    problems.append("has a network interface")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    problems.append("reached the network")
except OSError:
    pass
print("; ".join(problems) or "ok")
"""


def self_test(hidden):
    """Prove the sandbox works here and hides ``hidden`` paths; raise IsolationError if not."""
    try:
        done = subprocess.run(command([sys.executable, "-c", _PROBE, *map(str, hidden)], with_data=False),
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise IsolationError(f"cannot start the sandbox: {err}") from err
    verdict = done.stdout.strip()
    if done.returncode != 0 or verdict != "ok":
        raise IsolationError(f"the sandbox does not isolate student code here ({verdict or 'exit '}"
                             f"{'' if verdict else done.returncode}): {done.stderr.strip()[-400:]}")

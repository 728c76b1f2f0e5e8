"""Run untrusted processes in a bubblewrap sandbox, with limits that belong to one submission.

A sandboxed process sees a read-only system and Python, ``cnnkit`` (what students install),
optionally the CIFAR-10 *training* batches under ``/data`` (never the test batch, the held-out
set), and only the folders it is given. It has empty network, process, IPC and UTS
namespaces, a private sized ``/tmp`` and ``/dev/shm``, a read-only ``/dev``, limits on
address space, file size and process count, and no way to make a user namespace
(``syscalls.py``).

**Slots.** Each submission is graded in a *slot*. As root, a slot is an unprivileged user of
its own (``nbgrader-sandbox-1`` … ``-8``, made by ``./kit setup``), held with a lock while the
submission grades, so the per-user process limit of one submission cannot be used up by
another graded at the same time, and file permissions separate them too. Without root,
bubblewrap uses unprivileged user namespaces and every sandbox shares the grader's user; the
process limit is then per user, which the log says.

**Nothing of a slot outlives its submission.** Every folder the grader makes for a submission
lies in one fresh folder of the grader's (``Slot.folder``, mode 0700, so no other account on
the machine can list, read or write anything in it); the sandboxed processes reach only what is
bound into their sandbox. When the submission ends, the slot user's processes are killed, its
keyrings cleared (a key planted by one submission must not be read by the next in the slot),
its System V IPC and ``/dev/shm`` files removed, and the folder removed, mounts first.

``CNNKIT_SANDBOX=off`` turns all of this off, for a machine where it cannot work; every grade
run then warns loudly, and every feedback page says so.
"""

import contextlib
import fcntl
import json
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cnnkit import budget as budgets
from cnnkit import data
from cnnkit.kernel_env import KERNEL_ENV

from cnnkit_grader.boundary import cgroups, files, syscalls

LOG = logging.getLogger(__name__)

MODE_VAR = "CNNKIT_SANDBOX"
USERS_VAR = "CNNKIT_SANDBOX_USERS"     # comma-separated slot users (root only)
THREADS_VAR = "CNNKIT_THREADS"         # TensorFlow threads per submission
DEFAULT_USERS = tuple(f"nbgrader-sandbox-{i}" for i in range(1, 9))
LOCK_DIR = Path("/run/cnnkit-sandbox")
DATA_MOUNT = "/data"            # where the training batches appear inside; no host path leaks
MEMORY_LIMIT = 6 * 2**30        # address space per process; TensorFlow maps ~3 GiB it never touches
HELPER_MEMORY = 4 * 2**30       # the same for the grader's probe and measurement: no training there
FILE_SIZE_LIMIT = 2**30         # largest file a sandboxed process may write
PROCESS_LIMIT = 512             # per slot user: stops a fork bomb, leaves TensorFlow its threads
TMP_BYTES = 512 * 2**20         # the private /tmp
SHM_BYTES = 64 * 2**20          # the private /dev/shm
SCRATCH_BYTES = 1 * 2**30       # the submission's working folder (a tmpfs of its own, as root)
RUNTIME_BYTES = 16 * 2**20      # the kernel's runtime folder: its connection file and sockets
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
PASSED_ENV = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
INSIDE = Path(__file__).resolve().parent.parent / "inside"   # the grader code that runs in the sandbox
# Where the cnnkit the grader imported appears inside, first on PYTHONPATH: every sandboxed
# process imports that copy, whichever clone the environment was installed from (preflight.py).
KIT_MOUNT = "/opt/cnnkit-kit"

UNSAFE_WARNING = ("WARNING: CNNKIT_SANDBOX=off, so student code ran WITHOUT isolation: it "
                  "could read the hidden tests and the gradebook, and reach the network.")


class IsolationError(RuntimeError):
    """The sandbox cannot be set up; the message says what is missing and how to fix it."""


def enabled():
    return os.environ.get(MODE_VAR, "on").lower() not in ("off", "0", "false", "no")


# ---------------------------------------------------------------- slots
@dataclass
class Slot:
    """One submission's identity in the sandbox: a user of its own as root, else the grader's;
    and, where the machine allows, control groups that bound its processes together."""
    name: str
    uid: int = None
    gid: int = None
    _lock: int = None
    groups: object = ()
    folder: Path = None   # the grader's 0700 folder that holds every folder of this submission

    @property
    def isolated_user(self):
        return self.uid is not None


def slot_users():
    names = os.environ.get(USERS_VAR)
    return tuple(n.strip() for n in names.split(",") if n.strip()) if names else DEFAULT_USERS


def _user(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise IsolationError(
            f"the sandbox user {name!r} does not exist. Create the slot users once as root with "
            "`./kit setup` (or `useradd --system --no-create-home --shell /usr/sbin/nologin NAME` "
            f"for each of {', '.join(slot_users())}), or name existing unprivileged users in "
            f"${USERS_VAR}.") from None
    if entry.pw_uid == 0:
        raise IsolationError(f"the sandbox user {name!r} is root; it must be an unprivileged user.")
    return entry.pw_uid, entry.pw_gid


def kill_user_processes(uid):
    """SIGKILL every process whose real user is uid: nothing of an earlier submission survives."""
    import psutil

    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid:
                process.kill()
        except psutil.Error:
            pass


def _private_folder(slot_name=None):
    """A fresh folder of the grader's, mode 0700: no other account can list, read or write in it.
    Named after the slot, so the slot's next holder can find it if this grading is killed."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"cnnkit-submission-{slot_name}-" if slot_name else "cnnkit-submission-"))


def _sweep_stale(slot_name, log):
    """Remove what a killed grading of this slot left: its private folder and the tmpfs mounts in it.

    Called with the slot's lock held, so whoever made these folders is gone (a lock dies with
    its process). A worker killed mid-grade runs no clean-up of its own.
    """
    import tempfile

    for stale in Path(tempfile.gettempdir()).glob(f"cnnkit-submission-{slot_name}-*"):
        try:
            mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        except OSError:
            mounts = []
        inside = sorted((m for m in mounts if m.startswith(f"{stale}/")), key=len, reverse=True)
        for mount in inside:
            if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mount], capture_output=True)
        files.remove_tree(stale, log)
        log.warning("removed %s, which a killed grading in slot %s left behind", stale, slot_name)


_KEYCTL = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
KEYCTL_CLEAR, USER, USER_SESSION = 7, -4, -5
failed = [k for k in (USER, USER_SESSION)
          if libc.syscall(int(sys.argv[1]), KEYCTL_CLEAR, ctypes.c_long(k)) != 0
          and ctypes.get_errno() not in (2, 38)]
sys.exit(1 if failed else 0)
"""
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219}


def clear_keyrings(uid, gid):
    """Empty the user's user and user-session keyrings, as that user: the kernel keeps them per uid,
    across processes, so a key one submission adds would wait there for the next in the slot."""
    number = KEYCTL_SYSCALL.get(os.uname().machine)
    if number is None:
        raise IsolationError(f"clearing keyrings is not supported on {os.uname().machine}")
    done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           sys.executable, "-I", "-S", "-c", _KEYCTL, str(number)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise IsolationError(f"cannot clear the keyrings of uid {uid}: {done.stderr.strip()[-300:]}")


def clear_ipc(uid):
    """Remove the System V shared memory, queues and semaphores, and the /dev/shm files, that uid owns."""
    for kind, flag in (("shm", "-m"), ("msg", "-q"), ("sem", "-s")):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        header = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[0].split()
        for line in lines:
            row = dict(zip(header, line.split()))
            if row.get("uid") == str(uid) or row.get("cuid") == str(uid):
                subprocess.run(["ipcrm", flag, row["shmid" if kind == "shm" else
                                                   "msqid" if kind == "msg" else "semid"]],
                               capture_output=True)
    with contextlib.suppress(OSError):
        for entry in os.scandir("/dev/shm"):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid == uid and not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.path)


def _clean_user(uid, gid):
    """Nothing of an earlier submission of this user survives: processes, keyrings, IPC."""
    kill_user_processes(uid)
    clear_keyrings(uid, gid)
    clear_ipc(uid)


def _groups(name, log):
    """The slot's control groups; refuse (IsolationError) when none can be made, unless allowed."""
    try:
        return cgroups.slot_groups(name)
    except OSError as err:
        if not cgroups.optional():
            log.error("sandbox slot %s: %s", name, err)
            raise IsolationError(cgroups.refusal(err)) from err
        log.warning("sandbox slot %s: no control group (%s); %s=optional, so the %d GiB memory "
                    "cap of a submission's processes together is OFF", name, err, cgroups.MODE_VAR,
                    cgroups.SLOT_MEMORY // 2**30)
        return ()


@contextlib.contextmanager
def slot(wait_seconds=3600, log=None):
    """Hold a sandbox slot for one submission (root: a free slot user, locked; else the grader)."""
    log = log or LOG
    if os.geteuid() != 0:
        folder = _private_folder()
        try:
            yield Slot(name=pwd.getpwuid(os.geteuid()).pw_name, folder=folder)
        finally:
            files.remove_tree(folder, log)
        return
    users = slot_users()
    for name in users:
        _user(name)  # fail early and clearly when a slot user is missing
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        for name in users:
            fd = os.open(LOCK_DIR / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            folder, (uid, gid) = None, _user(name)
            try:
                _clean_user(uid, gid)
                _sweep_stale(name, log)
                groups = _groups(name, log)
                folder = _private_folder(name)
                yield Slot(name=name, uid=uid, gid=gid, _lock=fd, groups=groups, folder=folder)
            finally:
                try:
                    _clean_user(uid, gid)
                finally:
                    if folder is not None:
                        files.remove_tree(folder, log)
                    os.close(fd)
            return
        if time.monotonic() > deadline:
            raise IsolationError(f"all {len(users)} sandbox slots stayed busy for {wait_seconds} s")
        time.sleep(0.5)


def private_folder(slot_, prefix, mode=0o700):
    """A new folder for this submission inside the slot's private folder (or a fresh 0700 one)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir=slot_.folder if slot_ is not None else None))
    path.chmod(mode)
    return path


def give(path, slot_, include_root=True):
    """Let the slot's user own what the grader put in path, before any sandbox runs there.

    Only ever called on content the grader made and nothing untrusted has touched yet. With
    include_root=False, path itself stays the grader's (a sticky folder the slot may write in but
    whose entries it cannot rename away), so the grader's own entries in it stay where they are;
    its group is then the slot user's own, mode 1770. Folders become 0700, files 0600: no one but
    the grader and the slot user can reach anything.
    """
    if not slot_.isolated_user:
        return
    for root, dirs, names in os.walk(path):
        for name in dirs:
            os.lchown(os.path.join(root, name), slot_.uid, slot_.gid)
            os.chmod(os.path.join(root, name), 0o700)
        for name in names:
            full = os.path.join(root, name)
            os.lchown(full, slot_.uid, slot_.gid)
            if not os.path.islink(full):
                os.chmod(full, 0o600)
    if include_root:
        os.lchown(path, slot_.uid, slot_.gid)
        os.chmod(path, 0o700)
    else:
        os.lchown(path, 0, slot_.gid)
        os.chmod(path, 0o1770)


def give_folder(path, slot_):
    """Make a new, empty folder and hand it to the slot's user by its descriptor (no path is followed)."""
    os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if slot_.isolated_user:
            os.fchown(fd, slot_.uid, slot_.gid)
    finally:
        os.close(fd)


@contextlib.contextmanager
def scratch_folder(prefix="cnnkit-work-", size=SCRATCH_BYTES, slot_=None):
    """A folder for the submission to work in: a tmpfs of ``size`` bytes as root, else a plain folder.

    Made inside the slot's private folder, mode 0700. Yields ``(path, sized)``. The tmpfs is the
    disk quota: a notebook that writes more gets ENOSPC, and nothing it wrote outlives the
    unmount. Clean-up never raises: a tree too deep to remove is logged and left to the slot's
    own clean-up, never a failed submission.
    """
    path = private_folder(slot_, prefix)
    sized = False
    if os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700,nosuid,nodev",
                               "cnnkit-scratch", str(path)], capture_output=True, text=True)
        sized = done.returncode == 0
    path.chmod(0o700)
    try:
        yield path, sized
    finally:
        if sized:
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)
        files.remove_tree(path, LOG)


# ---------------------------------------------------------------- the command line
def kit_package():
    """The folder of the cnnkit the grader imported: the one the sandbox binds at KIT_MOUNT."""
    import cnnkit

    return Path(cnnkit.__file__).resolve().parent


def _python_dirs():
    import cnnkit

    return sorted({Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                   Path(cnnkit.__file__).resolve().parent})


def outside_binds(folder, most=50):
    """folder, or (when Python lives inside it) each entry of folder that holds nothing bound."""
    folder = Path(folder)
    bound = [p for p in _python_dirs() if p == folder or folder in p.parents]
    if not bound:
        return [folder]
    try:
        children = sorted(folder.iterdir())[:most]
    except OSError:
        return []
    return [child for child in children if not any(p == child or child in p.parents for p in bound)]


def training_files():
    """(host path, path inside) of the CIFAR-10 training batches; the test batch is never among them."""
    folder = data.local_batches_dir()
    if folder is None:
        raise IsolationError(
            f"sandboxed grading needs CIFAR-10 on disk: set {data.ENV_VAR} to the folder holding "
            "cifar-10-batches-py/ (the sandbox has no network to download it).")
    files = [folder / name for name in data.TRAIN_BATCHES + ("batches.meta",)]
    return [(path, f"{DATA_MOUNT}/cifar-10-batches-py/{path.name}") for path in files if path.exists()]


def thread_env():
    """TensorFlow's thread counts for one submission, from $CNNKIT_THREADS (unset: TensorFlow decides)."""
    threads = os.environ.get(THREADS_VAR)
    if not threads:
        return {}
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": threads}


def command(argv, slot_, writable=(), readonly=(), cwd=None, memory=MEMORY_LIMIT, with_data=True,
            with_inside=False, env=None):
    """The command line that runs ``argv`` sandboxed in slot_, seeing ``readonly`` and ``writable`` too."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise IsolationError("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` "
                             "(./kit setup does this when run as root).")
    args = ["prlimit", f"--as={memory}", f"--fsize={FILE_SIZE_LIMIT}", "--core=0", "--", bwrap,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv",
            "--dev", "/dev", "--size", str(SHM_BYTES), "--perms", "1777", "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev", "--proc", "/proc",
            "--size", str(TMP_BYTES), "--perms", "1777", "--tmpfs", "/tmp",
            "--seccomp", str(syscalls.FD)]   # no user namespaces inside (boundary/syscalls.py)
    if os.geteuid() != 0:
        args.append("--unshare-user")  # an unprivileged grader gets its namespaces this way
    for path in SYSTEM_DIRS:
        args += ["--ro-bind-try", path, path]
    binds = [("--ro-bind", path, path) for path in _python_dirs()]
    binds.append(("--ro-bind", kit_package(), f"{KIT_MOUNT}/cnnkit"))
    if with_inside:
        binds.append(("--ro-bind", INSIDE, INSIDE))
    if with_data:
        binds += [("--ro-bind", source, target) for source, target in training_files()]
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
                   "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", data.ENV_VAR: DATA_MOUNT,
                   # The budget the grader judges by, resolved here: the kernel cannot see
                   # NBGRADER_EXECUTION, and must train exactly as the rules expect.
                   "CNNKIT_BUDGET": budgets.current().name}
    environment["PYTHONPATH"] = os.pathsep.join([KIT_MOUNT] + ([str(INSIDE.parent.parent)] if with_inside else []))
    environment.update(KERNEL_ENV)
    environment.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    environment.update(thread_env())
    environment.update(env or {})
    for key, value in environment.items():
        args += ["--setenv", key, str(value)]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    if slot_.isolated_user:
        # bwrap mounts as root; setpriv then drops to the slot's user for good, and the process
        # limit counts that user's processes only: this submission's.
        args += ["--", "setpriv", f"--reuid={slot_.uid}", f"--regid={slot_.gid}", "--clear-groups",
                 "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
                 "prlimit", f"--nproc={PROCESS_LIMIT}", "--"]
    else:
        args += ["--"]
    try:
        filtered = syscalls.opened(args + list(argv))
    except syscalls.FilterError as err:   # the grader's environment, never the submission's fault
        raise IsolationError(f"cannot build the sandbox's system-call filter: {err}") from err
    return cgroups.joining(slot_.groups, filtered)


# ---------------------------------------------------------------- the self-test
_PROBE = r"""
import json, os, resource, socket, sys
request = json.loads(sys.argv[1])
problems = []
if request["drop_root"] and (os.geteuid() == 0 or os.getuid() == 0):
    problems.append("runs as root")
for path in request["hidden"]:
    if os.path.lexists(path):
        problems.append("can see " + path)
    relative = os.path.relpath(path, os.getcwd())
    if os.path.lexists(relative):
        problems.append("can see " + relative + " from its folder")
here = sorted(os.listdir("."))
if here != sorted(request["expected"]):
    problems.append("its folder holds %s, not only the submission's files" % here)
if os.path.isdir("/sys/class/net") and set(os.listdir("/sys/class/net")) - {"lo"}:
    problems.append("has a network interface")
try:
    socket.create_connection(("127.0.0.1", request["port"]), timeout=2).close()
    problems.append("reached the grader's loopback")
except OSError:
    pass
stat = os.statvfs("/tmp")
if stat.f_blocks * stat.f_frsize > request["tmp_bytes"] * 1.05:
    problems.append("/tmp is not size-limited")
if request["drop_root"] and resource.getrlimit(resource.RLIMIT_NPROC)[0] > request["nproc"]:
    problems.append("no process limit")
import ctypes
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0:   # CLONE_NEWUSER
    problems.append("can make a user namespace")
pids = [p for p in os.listdir("/proc") if p.isdigit()]
if len(pids) > 10:
    problems.append("sees %d processes" % len(pids))
print(json.dumps(problems))
"""


def self_test(slot_, cwd, writable, expected, hidden):
    """Prove, from inside a sandbox built like the kernel's, that it isolates; raise IsolationError if not.

    ``hidden`` are absolute host paths that must not exist inside (tested as given and
    relative to cwd); ``expected`` the names cwd must hold and nothing more.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    request = {"hidden": [str(p) for p in hidden], "expected": list(expected),
               "port": listener.getsockname()[1],
               "tmp_bytes": TMP_BYTES, "nproc": PROCESS_LIMIT, "drop_root": os.geteuid() == 0}
    try:
        argv = command([sys.executable, "-I", "-c", _PROBE, json.dumps(request)], slot_,
                       writable=writable, cwd=cwd, with_data=True)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise IsolationError(f"cannot start the sandbox: {err}") from err
    finally:
        listener.close()
    try:
        problems = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        problems = [f"the self-test did not run (exit {done.returncode}): {done.stderr.strip()[-400:]}"]
    if problems:
        raise IsolationError("the sandbox does not isolate student code here: " + "; ".join(problems))

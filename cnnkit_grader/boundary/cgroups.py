"""A control group per sandbox slot: one submission's memory, processes and CPU, bounded together.

Per-process limits (``prlimit``) cannot stop a submission whose many processes each stay under
them, or one that spins every core while another submission is graded. When the grader runs as
root, every sandboxed process of a slot joins that slot's group:

- memory: ``SLOT_MEMORY`` for the kernel, the probe and the measurement together, tmpfs pages
  included; past it, the kernel's own out-of-memory killer stops a process of *this* group;
- processes: ``SLOT_PIDS``;
- CPU: equal shares, so a submission that spins every core gets its share and no more.

Where the groups come from, as systemd would do it:

- cgroup v1 (this kit's CI machines): a ``cnnkit/<slot>`` folder under each controller;
- cgroup v2: a *delegated subtree*, the grader's own cgroup when it may write it. The grader
  first moves its own processes into a leaf ``grader`` (v2 lets no group with processes hand
  controllers to its children, which is the EBUSY a container's root gives), then makes the
  slot's group beside it;
- cgroup v2 whose subtree is not writable, with systemd as PID 1: each sandboxed command runs
  in a transient ``systemd-run --scope`` with the same limits.

A group that cannot be made is a grader error: ``slot_groups`` raises ``Unavailable``, and
grading refuses to run unless ``CNNKIT_SANDBOX_CGROUP=optional`` says on purpose that the cap may
be off (the log then says it is). Every function takes the cgroup root as a parameter, so the
v2 logic is tested on a folder that imitates one.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SLOT_MEMORY = 6 * 2**30
SLOT_PIDS = 1024
ROOT = Path("/sys/fs/cgroup")
MODE_VAR = "CNNKIT_SANDBOX_CGROUP"   # "required" (the default) or "optional"
V1_LIMITS = {"memory": ("memory.limit_in_bytes", SLOT_MEMORY), "pids": ("pids.max", SLOT_PIDS),
             "cpu": ("cpu.shares", 1024)}
V2_LIMITS = {"memory.max": SLOT_MEMORY, "pids.max": SLOT_PIDS, "cpu.weight": 100}
V2_CONTROLLERS = ("memory", "pids", "cpu")
LEAF = "grader"   # where the grader's own processes go in a delegated v2 subtree


class Unavailable(OSError):
    """No control group can be made for a slot here; the message says why."""


@dataclass(frozen=True)
class Groups:
    """A slot's groups: folders whose ``cgroup.procs`` a process joins, or an argv prefix (a scope)."""
    folders: tuple = ()
    prefix: tuple = ()

    def __bool__(self):
        return bool(self.folders or self.prefix)


def optional():
    """True when the operator allowed grading without a control group ($CNNKIT_SANDBOX_CGROUP=optional)."""
    return os.environ.get(MODE_VAR, "required").strip().lower() == "optional"


def _writable(path):
    return path.is_dir() and os.access(path, os.W_OK)


def mode(root=None):
    """"v1", "v2", or None when this process cannot make groups under root (default ROOT)."""
    root = Path(root or ROOT)
    if os.geteuid() != 0:
        return None
    if (root / "cgroup.controllers").exists():
        return "v2"
    if all(_writable(root / name) for name in V1_LIMITS):
        return "v1"
    return None


def own_group(root, proc_cgroup="/proc/self/cgroup"):
    """The folder of this process's own cgroup v2 group under root (its ``0::/path`` line)."""
    for line in Path(proc_cgroup).read_text().splitlines():
        if line.startswith("0::"):
            return root / line[3:].strip().lstrip("/")
    raise Unavailable(f"{proc_cgroup} names no cgroup v2 group")


def _delegate(base):
    """Make base able to hand its controllers to children: its processes move to a leaf first."""
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    if set(V2_CONTROLLERS) <= enabled:
        return
    missing = set(V2_CONTROLLERS) - set((base / "cgroup.controllers").read_text().split())
    if missing:
        raise Unavailable(f"the cgroup {base} lacks the controllers {', '.join(sorted(missing))}")
    pids = (base / "cgroup.procs").read_text().split()
    if pids:
        leaf = base / LEAF
        leaf.mkdir(exist_ok=True)
        for pid in pids:
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except ProcessLookupError:
                pass   # gone meanwhile
    (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in V2_CONTROLLERS))


def _v2_groups(name, memory, root, proc_cgroup):
    base = own_group(root, proc_cgroup)
    if not _writable(base):
        raise Unavailable(f"the grader's own cgroup {base} is not writable (not delegated to it)")
    _delegate(base)
    folder = base / f"cnnkit-{name}"
    folder.mkdir(exist_ok=True)
    for setting, value in V2_LIMITS.items():
        (folder / setting).write_text(str(memory if setting == "memory.max" else value))
    return Groups(folders=(folder,))


def systemd_scope(name, memory=SLOT_MEMORY, which=shutil.which, pid1="/proc/1/comm"):
    """The argv prefix that runs a command in a transient systemd scope with the slot's limits."""
    try:
        systemd = Path(pid1).read_text().strip() == "systemd"
    except OSError:
        systemd = False
    run = which("systemd-run")
    if not (systemd and run):
        raise Unavailable("systemd is not PID 1 here, so no transient scope can be made")
    return Groups(prefix=(run, "--scope", "--quiet", "--collect", f"--unit=cnnkit-{name}-{os.getpid()}",
                          "-p", f"MemoryMax={memory}", "-p", f"TasksMax={SLOT_PIDS}",
                          "-p", "CPUWeight=100", "--"))


def slot_groups(name, memory=SLOT_MEMORY, root=None, proc_cgroup="/proc/self/cgroup"):
    """Create (or reset) the slot's groups and return them; raise Unavailable when none can be made."""
    root = Path(root or ROOT)
    kind = mode(root)
    if kind == "v1":
        folders = []
        for controller, (setting, value) in V1_LIMITS.items():
            folder = root / controller / "cnnkit" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / setting).write_text(str(memory if controller == "memory" else value))
            folders.append(folder)
        return Groups(folders=tuple(folders))
    if kind == "v2":
        try:
            return _v2_groups(name, memory, root, proc_cgroup)
        except OSError as err:
            try:
                return systemd_scope(name, memory)
            except Unavailable:
                raise Unavailable(f"cgroup v2: {err}") from err
    if os.geteuid() != 0:
        raise Unavailable("only root makes control groups")
    raise Unavailable(f"{root} offers neither writable cgroup v1 controllers "
                      f"({', '.join(V1_LIMITS)}) nor cgroup v2")


def refusal(err):
    """The message that stops grading when the slot's group cannot be made: what failed and the fix."""
    return (f"cannot make the sandbox slot's control group ({err}), so its {SLOT_MEMORY // 2**30} GiB "
            f"memory cap would be off. Fix: run the grader as root where it may write {ROOT} "
            "(cgroup v1, or a cgroup v2 subtree delegated to it, e.g. a systemd service with "
            "Delegate=yes, or under systemd as PID 1), or set "
            f"{MODE_VAR}=optional to grade without the cap on purpose.")


def joining(groups, argv):
    """argv, started in the given groups: a shell writes its own pid into each, then becomes argv."""
    if isinstance(groups, Groups):
        prefix, folders = list(groups.prefix), groups.folders
    else:
        prefix, folders = [], tuple(groups or ())
    if not folders:
        return prefix + list(argv)
    script = 'for g in "$@"; do case "$g" in --) break;; esac; echo $$ > "$g/cgroup.procs"; done; ' \
             'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
    return prefix + ["sh", "-c", script, "sh", *map(str, folders), "--", *argv]

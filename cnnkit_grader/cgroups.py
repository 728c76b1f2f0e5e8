"""A control group per sandbox slot: one submission's memory, processes and CPU, bounded together.

Per-process limits (``prlimit``) cannot stop a submission whose many processes each stay under
them, or one that spins every core while another submission is graded. When the grader runs as
root on a machine whose cgroup controllers it may write (cgroup v1, as on this kit's CI machines,
or a pure cgroup v2 hierarchy), every sandboxed process of a slot joins that slot's group:

- memory: ``SLOT_MEMORY`` for the kernel, the probe and the measurement together, tmpfs pages
  included; past it, the kernel's own out-of-memory killer stops a process of *this* group;
- processes: ``SLOT_PIDS``;
- CPU: equal shares, so a submission that spins every core gets its share and no more.

Elsewhere nothing is created and the log says so; ``prlimit`` still bounds each process.
"""

import os
from pathlib import Path

SLOT_MEMORY = 6 * 2**30
SLOT_PIDS = 1024
V1 = Path("/sys/fs/cgroup")
V1_LIMITS = {"memory": ("memory.limit_in_bytes", SLOT_MEMORY), "pids": ("pids.max", SLOT_PIDS),
             "cpu": ("cpu.shares", 1024)}
V2_LIMITS = {"memory.max": SLOT_MEMORY, "pids.max": SLOT_PIDS, "cpu.weight": 100}


def _writable(path):
    return path.is_dir() and os.access(path, os.W_OK)


def mode():
    """"v1", "v2", or None when this process cannot make groups."""
    if os.geteuid() != 0:
        return None
    if (V1 / "cgroup.controllers").exists():
        controllers = (V1 / "cgroup.controllers").read_text().split()
        return "v2" if {"memory", "pids"} <= set(controllers) and _writable(V1) else None
    if all(_writable(V1 / name) for name in V1_LIMITS):
        return "v1"
    return None


def slot_groups(name, memory=SLOT_MEMORY):
    """Create (or reset) the slot's groups; return their folders, whose ``cgroup.procs`` a process joins."""
    kind = mode()
    if kind == "v1":
        groups = []
        for controller, (setting, value) in V1_LIMITS.items():
            folder = V1 / controller / "cnnkit" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / setting).write_text(str(memory if controller == "memory" else value))
            groups.append(folder)
        return groups
    if kind == "v2":
        parent = V1 / "cnnkit"
        parent.mkdir(exist_ok=True)
        for root in (V1, parent):
            (root / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        folder = parent / name
        folder.mkdir(exist_ok=True)
        for setting, value in V2_LIMITS.items():
            (folder / setting).write_text(str(memory if setting == "memory.max" else value))
        return [folder]
    return []


def joining(groups, argv):
    """argv, started in the given groups: a shell writes its own pid into each, then becomes argv."""
    if not groups:
        return list(argv)
    script = 'for g in "$@"; do case "$g" in --) break;; esac; echo $$ > "$g/cgroup.procs"; done; ' \
             'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
    return ["sh", "-c", script, "sh", *map(str, groups), "--", *argv]

"""The sandbox's system-call filter: sandboxed code cannot make a user namespace.

Inside a user namespace of its own, an unprivileged process holds every capability over what
that namespace owns (mounts, network set-up, more namespaces): the kernel code it can then
reach is a large part of the local privilege escalations found in recent years. Nothing a
submission needs (Python, TensorFlow, Jupyter's kernel, matplotlib) makes one.

The filter is compiled by libseccomp (the library Flatpak and container runtimes use) and
handed to bubblewrap's ``--seccomp``, which loads it just before the sandboxed program starts,
for that program and everything it starts:

- ``unshare`` fails with EPERM; ``clone`` fails with EPERM when it asks for CLONE_NEWUSER;
- ``clone3`` fails with ENOSYS, as in Docker's default profile: its flags live in memory,
  where a filter cannot read them, and the C library then falls back to ``clone``;
- a system call of another architecture (32-bit ``int 0x80``, x32) kills the thread making
  it (libseccomp's default for a foreign architecture), so none goes round the filter.

As root, bubblewrap runs in the machine's own user namespace and can still set up the sandbox;
without root (``--unshare-user``) the filter is loaded only after bubblewrap made its own.
"""

import atexit
import contextlib
import ctypes
import ctypes.util
import errno
import os
import tempfile

CLONE_NEWUSER = 0x10000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
FD = 9   # the file descriptor the filter reaches bubblewrap on


def _errno(code):
    return 0x00050000 | (code & 0xFFFF)   # SCMP_ACT_ERRNO(code)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class FilterError(RuntimeError):
    """libseccomp is missing or refused the filter: the grader's fault, never the submission's."""


def _library():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as err:
        raise FilterError(f"libseccomp is not installed ({err}): `apt-get install libseccomp2` "
                          "(./kit setup does this when run as root)") from err
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def compile_filter(fd):
    """Write the compiled filter (classic BPF, as bubblewrap reads it) to the open file ``fd``."""
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise FilterError("seccomp_init failed")
    try:
        def rule(action, name, *compare):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            array = (_ArgCmp * max(1, len(compare)))(*compare)
            result = lib.seccomp_rule_add_array(ctx, action, number, len(compare), array)
            if result < 0:
                raise FilterError(f"libseccomp refused the rule for {name}: {os.strerror(-result)}")

        rule(_errno(errno.EPERM), "unshare")
        rule(_errno(errno.EPERM), "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        rule(_errno(errno.ENOSYS), "clone3")
        result = lib.seccomp_export_bpf(ctx, fd)
        if result < 0:
            raise FilterError(f"libseccomp could not export the filter: {os.strerror(-result)}")
    finally:
        lib.seccomp_release(ctx)


_made = {}   # pid -> the filter's file, made by that process


def filter_file():
    """This process's compiled filter, in a file only it can write: made on first use (and again
    if a /tmp cleaner removed it from a long-running service), removed when the process exits."""
    path = _made.get(os.getpid())
    if path and os.path.isfile(path):
        return path
    fd, path = tempfile.mkstemp(prefix="cnnkit-seccomp-", suffix=".bpf")
    try:
        compile_filter(fd)
    finally:
        os.close(fd)
    _made[os.getpid()] = path
    atexit.register(_remove, path, os.getpid())
    return path


def _remove(path, pid):
    if os.getpid() == pid:   # a forked child that exits normally leaves its parent's file alone
        with contextlib.suppress(OSError):
            os.unlink(path)


def opened(argv):
    """``argv`` (which starts bubblewrap with ``--seccomp FD``) started with the filter open on FD."""
    return ["sh", "-c", f'exec "$@" {FD}<"$0"', filter_file(), *argv]

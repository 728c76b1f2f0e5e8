"""Move files across the trust boundary without following links, and within fixed limits.

Every folder the sandbox could write to is hostile: a name can be a link to the gradebook, a
FIFO that blocks a reader forever, a sparse file of a terabyte, or one of a million files.
These helpers open each file relative to a directory descriptor with ``O_NOFOLLOW``, copy
only regular files, and stop at a count and a total size, so the trusted side never reads
more than it asked for.
"""

import base64
import binascii
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    files: int            # how many files at most
    file_bytes: int       # largest single file (by its apparent size, so sparse files count in full)
    total_bytes: int      # all files together


@dataclass
class Taken:
    """What a copy took, and what it left behind with the reason (shown to the student)."""
    names: list = field(default_factory=list)
    refused: list = field(default_factory=list)   # "name (why)"


def _open_dir(folder):
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


def list_names(folder):
    """The entries of folder, or [] when it is missing or is itself a link."""
    try:
        dir_fd = _open_dir(folder)
    except OSError:
        return []
    try:
        return sorted(os.listdir(dir_fd))
    finally:
        os.close(dir_fd)


MAX_DEPTH = 20   # folders deeper than this are refused, not walked: no recursion to exhaust


def _entries(folder, depth=MAX_DEPTH):
    """Yield (relative path, kind, dir_fd, name) for everything under folder, walking by descriptors.

    kind is "file", "dir", "too deep" or "special" (a link, FIFO, socket or device). Each folder
    is opened with O_NOFOLLOW relative to its parent's descriptor, so a folder swapped for a link
    while the walk runs is refused, not followed. The walk is iterative.
    """
    top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    stack = [(top, "", 0)]
    try:
        while stack:
            fd, prefix, level = stack.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    try:
                        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        if level >= depth:
                            yield prefix + name, "too deep", fd, name
                            continue
                        try:
                            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                        except OSError:
                            yield prefix + name, "special", fd, name
                            continue
                        yield prefix + name, "dir", fd, name
                        stack.append((child, prefix + name + "/", level + 1))
                    elif stat.S_ISREG(info.st_mode):
                        yield prefix + name, "file", fd, name
                    else:
                        yield prefix + name, "special", fd, name
            finally:
                os.close(fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def non_regular(folder):
    """Relative paths of everything under folder that is neither a regular file nor a folder.

    Links (to files or folders), FIFOs, sockets and devices: nothing a submission needs, and
    each a way to make a privileged copy read what it should not. Folders nested deeper than
    MAX_DEPTH are listed too. A folder that is itself a link is listed as ".".
    """
    try:
        return sorted(path for path, kind, _, _ in _entries(folder) if kind in ("special", "too deep"))
    except OSError:
        return ["."]


def take(folder, names, target, limits, keep=lambda name: True):
    """Copy the named regular files of folder (a folder the sandbox controls) into target.

    Opens each file with O_NOFOLLOW relative to folder, so a name that is a link, or a folder
    that was swapped for a link, is refused rather than followed. Files over the limits are
    refused with the reason; the copy reads at most ``file_bytes`` from any file.
    """
    taken = Taken()
    try:
        dir_fd = _open_dir(folder)
    except OSError:
        return taken
    total = 0
    try:
        for name in names:
            if "/" in name or name in (".", "..") or not keep(name):
                continue
            total += _copy_file(dir_fd, name, name, Path(target) / name, limits, taken, total)
    finally:
        os.close(dir_fd)
    return taken


def _refusal(shown, size, total, limits):
    """Why a file of ``size`` bytes is refused when ``total`` bytes are already taken; None if it fits."""
    if size > limits.file_bytes:
        return f"{shown} ({size / 2**20:,.0f} MB; at most {limits.file_bytes / 2**20:,.0f} MB)"
    if total + size > limits.total_bytes:
        return f"{shown} (over the {limits.total_bytes / 2**20:,.0f} MB that all files together may take)"
    return None


def _copy_file(dir_fd, name, shown, destination, limits, taken, total):
    """Copy the regular file ``name`` of ``dir_fd`` to ``destination`` within the limits, or record
    why not in ``taken`` (as ``shown``). Opened with O_NOFOLLOW and checked after the open, so a
    link, or a file swapped for one, is refused, never followed. Returns the bytes copied."""
    if len(taken.names) >= limits.files:
        taken.refused.append(f"{shown} (more than {limits.files} files)")
        return 0
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        taken.refused.append(f"{shown} (a link or unreadable)")
        return 0
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        why = "not a regular file" if not stat.S_ISREG(info.st_mode) else None
        refused = f"{shown} ({why})" if why else _refusal(shown, info.st_size, total, limits)
        if refused:
            taken.refused.append(refused)
            return 0
        with open(destination, "wb") as dst:
            copied = _copy_at_most(src, dst, limits.file_bytes)
    taken.names.append(shown)
    return copied


def _copy_at_most(src, dst, limit):
    copied = 0
    while copied < limit:
        chunk = src.read(min(1 << 20, limit - copied))
        if not chunk:
            break
        dst.write(chunk)
        copied += len(chunk)
    return copied


def copy_tree(source, target, limits, skip=lambda name: False):
    """Copy the regular files and folders of source into target (which exists); never a link.

    Walks by descriptors (``_entries``) and opens each file with O_NOFOLLOW, checking after the
    open that it is a regular file within the size limit, so nothing swapped in while the copy
    runs is followed. Returns Taken: the relative paths copied, and those refused with the reason.
    """
    taken, total = Taken(), 0
    for path, kind, dir_fd, name in _entries(source):
        destination = Path(target) / path
        if kind == "dir":
            destination.mkdir()
            continue
        if kind != "file":
            taken.refused.append(f"{path} ({'a link or special file' if kind == 'special' else 'nested too deep'})")
            continue
        if skip(name):
            continue
        total += _copy_file(dir_fd, name, path, destination, limits, taken, total)
    return taken


def write_encoded(encoded, target, limits, skip=lambda name: False):
    """Write files that arrive as data, ``[{"path": "a/b.ipynb", "content": base64}]``, into target.

    For an exchange that serves submissions over HTTP (ngshare): the names come from the
    student, by way of a server. A name that is absolute, climbs with ``..``, holds an empty
    or ``.`` part or a NUL, or is nested deeper than MAX_DEPTH is refused, and so is a name
    given twice; files over the limits are refused before they are decoded. Every folder and
    file is created here, new (O_EXCL, O_NOFOLLOW), so nothing can point outside target.
    Returns Taken, as copy_tree does.
    """
    taken, total, seen = Taken(), 0, set()
    for entry in encoded:
        path = entry.get("path") if isinstance(entry, dict) else None
        content = entry.get("content") if isinstance(entry, dict) else None
        parts = path.split("/") if isinstance(path, str) else []
        shown = repr(path)[:80] if isinstance(path, str) else "a file with no name"
        if (not parts or path.startswith("/") or "\0" in path or "\\" in path
                or any(part in ("", ".", "..") for part in parts)):
            taken.refused.append(f"{shown} (not a plain relative name)")
            continue
        if len(parts) > MAX_DEPTH:
            taken.refused.append(f"{shown} (nested too deep)")
            continue
        if any(skip(part) for part in parts):  # nbgrader's ignore list names files and folders
            continue
        if path in seen:
            taken.refused.append(f"{shown} (given twice)")
            continue
        if not isinstance(content, str):
            taken.refused.append(f"{shown} (no content)")
            continue
        size = len(content) * 3 // 4  # what base64 decodes to, at most
        if len(taken.names) >= limits.files:
            taken.refused.append(f"{shown} (more than {limits.files} files)")
            continue
        if size > limits.file_bytes + 3:   # refused before it is decoded (base64 may pad by 3)
            taken.refused.append(_refusal(shown, size, 0, limits))
            continue
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError):
            taken.refused.append(f"{shown} (not base64)")
            continue
        if _refusal(shown, len(data), total, limits):
            taken.refused.append(_refusal(shown, len(data), total, limits))
            continue
        folder = Path(target)
        try:
            for part in parts[:-1]:
                folder = folder / part
                if not folder.is_dir() or folder.is_symlink():
                    folder.mkdir()
            fd = os.open(folder / parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            taken.refused.append(f"{shown} ({error.strerror or 'could not be written'})")
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        seen.add(path)
        total += len(data)
        taken.names.append(path)
    return taken


def tree_bytes(folder):
    """Disk blocks used under folder, in bytes, counting no link targets."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def remove_tree(path, log=None):
    """Remove path and everything under it, never raising: a failed clean-up is the grader's to log,
    never a failed submission.

    ``shutil.rmtree`` recurses, so a tree deeper than Python's recursion limit (or its paths
    longer than PATH_MAX) defeats it; ``rm -rf`` walks by descriptors and removes any depth.
    ``--one-file-system`` leaves a mount that is still there (an unmount that failed) alone.
    """
    path = Path(path)
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return True
    except (OSError, RecursionError):
        pass
    if not os.path.lexists(path):
        return True
    try:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        pass
    if os.path.lexists(path):
        if log is not None:
            log.error("could not remove %s; remove it by hand", path)
        return False
    return True


def process_folder(prefix, log=None):
    """A new 0700 folder in the temporary folder, named after this process
    (``PREFIX<pid>-XXXX``), after removing the folders of that prefix whose process is gone: a
    grading killed mid-way (a SIGKILLed service, a dead worker) runs no clean-up of its own.

    Only the grader's own folders are swept: never a link, nor anything another account made
    under that name in the shared temporary folder."""
    import tempfile

    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = stale.name[len(prefix):].split("-", 1)[0]
        try:
            info = os.lstat(stale)
        except OSError:
            continue
        if (pid.isdigit() and stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
                and not alive(int(pid))):
            remove_tree(stale, log)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def alive(pid):
    """Whether process ``pid`` is running: it exists (ours or another user's) and is not a zombie
    (exited, not yet reaped by its parent), which holds no folder open but still answers kill 0."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False

"""Folders as data: what travels between the client and a worker.

A worker on another machine shares no disk with the client, so a submission goes to it as
``{relative path: (mode, bytes)}`` and the autograded folder comes back the same way. Modes
travel too: nbgrader makes autograded files read-only (its ``permissions`` setting), and the
client's copy should look exactly like the one serial ``nbgrader autograde`` would write.
"""

import datetime
import os
import shutil
from pathlib import Path

# What a submission folder may hold before it is refused as a whole (a student could upload
# a huge file; nbgrader would copy it too, but a task should not ship gigabytes).
MAX_BYTES = int(os.environ.get("CNNKIT_GRADE_MAX_SUBMISSION_BYTES", 200 * 1024 ** 2))


class TooLarge(ValueError):
    """A folder holds more than MAX_BYTES."""


def pack(folder, ignore=(), limit=MAX_BYTES):
    """Every file under folder (skipping names matched by ``ignore`` globs) as data."""
    folder = Path(folder)
    packed, total = {}, 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part_matches(part, ignore) for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > limit:
                raise TooLarge(f"{folder} holds more than {limit} bytes")
            packed[relative.as_posix()] = (path.stat().st_mode & 0o7777, path.read_bytes())
    return packed


def part_matches(name, globs):
    from fnmatch import fnmatch
    return any(fnmatch(name, pattern) for pattern in globs)


def unpack(packed, folder, replace=False):
    """Write packed files under folder; with replace, remove what was there first."""
    folder = Path(folder)
    if replace and folder.exists():
        _make_writable(folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, (mode, content) in packed.items():
        target = (folder / relative).resolve()
        if folder.resolve() not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.chmod(0o644)
        target.write_bytes(content)
        target.chmod(mode)
    return folder


def _make_writable(folder):
    for dirpath, dirnames, _ in os.walk(folder):
        os.chmod(dirpath, 0o755)


def submitted_at(folder):
    """When the submission was made: nbgrader's timestamp.txt, read as nbgrader reads it; or,
    for a folder without one, the newest file's modification time. ISO 8601, UTC."""
    from nbgrader.utils import parse_utc

    stamp = Path(folder) / "timestamp.txt"
    if stamp.is_file() and stamp.read_text().strip():
        try:
            return parse_utc(stamp.read_text().strip()).replace(tzinfo=datetime.timezone.utc).isoformat()
        except ValueError:
            pass
    times = [p.stat().st_mtime for p in Path(folder).rglob("*") if p.is_file()]
    if not times:
        return None
    return datetime.datetime.fromtimestamp(max(times), datetime.timezone.utc).isoformat()

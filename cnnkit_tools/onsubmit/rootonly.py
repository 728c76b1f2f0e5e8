"""What the grading launcher runs as root must be root's alone.

The launcher (``launcher.py``) stays root for as long as the hub runs, and imports code as it
goes: the kit's packages, the course Python's site-packages, the standard library. If any
account but root could write one of those files, or a folder that holds one, or a folder above
one without the sticky bit (and so rename it and put its own in its place), that account
would run code as root at the next import. So the service refuses to start as root unless
every folder on ``sys.path`` is root's alone, all the way up.

nbgrader and Jupyter also run config files as code, found through ``JUPYTER_CONFIG_PATH`` and
its kin: the hub points them at folders made for the course's accounts. The launcher drops
those names and grades with the kit's own ``nbgrader_config.py`` only, as ``./kit grade`` does.
"""

import os
import pwd
import stat
import sys
from pathlib import Path

# Where Jupyter, IPython and Python look for config, kernels and start-up code: the course's
# accounts' settings, which the service keeps and the launcher must not run.
FOREIGN_CONFIG = ("JUPYTER_CONFIG_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_PATH", "JUPYTER_DATA_DIR",
                  "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONHOME")


def drop_foreign_config(environ=os.environ):
    """Remove the names above from ``environ`` (the launcher's own, by default)."""
    for name in FOREIGN_CONFIG:
        environ.pop(name, None)


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _why(info, above=False):
    """Why an account other than root could change this file or folder, or None."""
    if info.st_uid != 0:
        return f"owned by {_owner(info.st_uid)}"
    # A sticky folder above (/tmp, say) lets others add names but not replace root's.
    sticky = above and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if info.st_mode & stat.S_IWOTH and not sticky:
        return "anyone may write it"
    if info.st_mode & stat.S_IWGRP and info.st_gid != 0 and not sticky:
        return f"group {info.st_gid} may write it"
    return None


def _folders_above(path):
    path = Path(os.path.realpath(path))
    return [path, *path.parents]


def unsafe_code(roots=None, limit=20):
    """``[(path, why), ...]`` for each file or folder under ``roots`` (``sys.path``'s folders by
    default), or folder above one, that an account other than root could change; at most
    ``limit``. Hidden top-level entries of a root (``.git``, ``.cache``, a ``.venv`` that is
    not itself on the path) are not imported from, so they are not walked."""
    roots = [r for r in (sys.path if roots is None else roots) if r and os.path.isdir(r)]
    found, seen = [], set()

    def note(path, why):
        if why and path not in seen:
            seen.add(path)
            found.append((str(path), why))

    for root in roots:
        for folder in _folders_above(root)[1:]:
            note(folder, _why(os.stat(folder), above=True))
        top = Path(os.path.realpath(root))
        note(top, _why(os.stat(top)))
        for entry in sorted(os.scandir(top), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            paths = [Path(entry.path)]
            if entry.is_dir(follow_symlinks=False):
                for folder, dirs, files in os.walk(entry.path):
                    paths += [Path(folder, name) for name in dirs + files]
            for path in paths:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):  # a link's own mode means nothing: check where it leads
                    path = Path(os.path.realpath(path))
                    if not path.exists():
                        continue
                    info = os.stat(path)
                note(path, _why(info))
                if len(found) >= limit:
                    return found
    return found


def refusal(problems):
    """The message the service gives before it refuses to start as root."""
    lines = [f"  {path}: {why}" for path, why in problems]
    return ("the grading launcher would run, as root, code that another account can change:\n"
            + "\n".join(lines)
            + "\nmake it root's alone (chown -R root, chmod -R go-w), or start the service from a clone"
              " and an environment that only root writes (docs/hub.md)")

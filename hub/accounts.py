"""The course's local accounts: instructors and students log in with them, the grader runs as one.

JupyterHub's PAM authenticator checks these accounts' passwords, and its local process
spawner runs each person's server as their own account, so file permissions keep one
student's work from another. This module creates the accounts (as root), gives new ones a
random password, and keeps the passwords it set in ROOT/passwords.txt (readable by root
only), from which ``./kit hub start`` prints them. It never changes the password of an
account it did not create, unless asked to (``--reset-passwords``; the tests do).
"""

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path


def exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def read_passwords(path):
    path = Path(path)
    if not path.exists():
        return {}
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {name: password for name, password in pairs}


def write_passwords(path, passwords):
    path = Path(path)
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text("".join(f"{name} {password}\n" for name, password in sorted(passwords.items())))


def _run(*command, stdin=None):
    subprocess.run(command, input=stdin, text=True, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ensure_account(name, home, login=True):
    """Create the account ``name`` with its home at ``home``, or move an existing one's home there.

    Homes are private (0700): a student's work, fetched feedback and the grader's course
    folder are readable by their owner only.
    """
    home = Path(home)
    created = not exists(name)
    if created:
        home.parent.mkdir(parents=True, exist_ok=True)
        _run("useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
             "--user-group", name)
    elif pwd.getpwnam(name).pw_dir != str(home):
        _run("usermod", "--home", str(home), name)
    entry = pwd.getpwnam(name)
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree("/etc/skel", home, symlinks=True)
    for path in [home, *home.rglob("*")]:
        os.lchown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(home, 0o700)
    if not login:
        _run("passwd", "--lock", name)  # runs a service; nobody logs in as it
    return created


def set_password(name, password):
    _run("chpasswd", stdin=f"{name}:{password}\n")


def ensure_accounts(settings, reset_passwords=False):
    """Every account the course needs; returns {user: password} for those whose password we know."""
    passwords = read_passwords(settings.passwords_file)
    ensure_account(settings.grader, settings.home(settings.grader), login=False)
    for user in settings.users:
        if ensure_account(user, settings.home(user)) or reset_passwords:
            passwords[user] = secrets.token_urlsafe(12)
        if user in passwords:  # an account that was there before us keeps its own password
            set_password(user, passwords[user])
    write_passwords(settings.passwords_file, passwords)
    return {user: passwords[user] for user in settings.users if user in passwords}

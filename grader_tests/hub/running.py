"""A course hub for a test: started by the kit's own code (hub/control.py), torn down after."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from hub import accounts, control
from hub.settings import KIT, Settings


def _install():
    """hub/install.sh --browser: quick when everything is there already."""
    done = subprocess.run(["bash", str(KIT / "hub" / "install.sh"), "--browser"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        pytest.fail(f"hub/install.sh failed:\n{done.stdout[-3000:]}")


@contextlib.contextmanager
def course_hub(artifacts, label, **fields):
    """A hub started by hub/control.py under a fresh temporary root, with the smoke budget: yields
    (settings, passwords); then stops it, keeps its log in artifacts, removes the root, and fails
    if anything it started outlived it. ``fields`` are the hub's Settings (port, course, people)."""
    if os.geteuid() != 0:
        pytest.skip("the course hub needs root: it creates accounts and runs servers as them")
    cifar = os.environ.get("CIFAR10_DIR")
    if not cifar:
        pytest.fail("CIFAR10_DIR is not set: run the tests with ./kit test")
    _install()
    root = Path(tempfile.mkdtemp(prefix=f"cnnkit-{label}-", dir="/tmp"))
    os.chmod(root, 0o755)
    settings = Settings(root=str(root), home_base=str(root / "home"), cifar10_dir=cifar, budget="smoke", **fields)
    log = open(artifacts / f"{label}-start.txt", "w")
    # The accounts this hub will make; those that did not exist before go again after it.
    made = [name for name in (settings.grader, *settings.users) if not accounts.exists(name)]
    try:
        passwords = control.start(settings, reset_passwords=True, out=log)
        yield settings, passwords
    finally:
        control.stop(settings, out=log)
        log.close()
        leftovers = control._hub_processes(settings)
        if settings.log_file.exists():
            shutil.copy(settings.log_file, artifacts / f"{label}-jupyterhub.log")
        shutil.rmtree(root, ignore_errors=True)
        assert not leftovers, f"processes the hub started outlived it: {leftovers}"
        for name in made:   # userdel takes the account's own group with it
            subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert not [name for name in made if accounts.exists(name)], "accounts the hub made outlived it"

"""Shared test setup: tiers by folder, the CIFAR-10 folder, and golden files.

- ``grader_tests/unit``: the fast tier (marker ``fast``): rules on evidence records, parsers, files,
  the sandbox's command line and self-test, config. Seconds, no training.
- ``grader_tests/pipeline``: the slow tier (marker ``slow``): real nbgrader runs, real kernels, real
  training under the smoke budget.
- ``grader_tests/hub`` (marker ``hub``): a real JupyterHub, driven in a browser.

``./kit test -m fast`` runs the fast tier alone; ``--update-goldens`` rewrites golden files.
"""

import os
from pathlib import Path

import pytest

from cnnkit import data

TESTS = Path(__file__).resolve().parent
GOLDENS = TESTS / "goldens"
TIERS = {"unit": "fast", "pipeline": "slow", "hub": "hub"}


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite grader_tests/goldens/ from this run")


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = TIERS.get(Path(str(item.fspath)).relative_to(TESTS).parts[0])
        if tier:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def cifar_dir():
    directory = os.environ.get(data.ENV_VAR)
    if not directory:
        pytest.fail(f"{data.ENV_VAR} is not set: run the tests with ./kit test, which builds the "
                    "offline CIFAR-10 stand-in, or point it at a cifar-10-batches-py folder.")
    return Path(directory)


@pytest.fixture
def golden(request):
    """``golden(name, text)``: compare text with grader_tests/goldens/name, or rewrite it with --update-goldens."""
    def check(name, text):
        path = GOLDENS / name
        if request.config.getoption("--update-goldens"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}: run the tests once with --update-goldens"
        assert text == path.read_text(), f"{path} differs from this run: check the change, then --update-goldens"
    return check


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole run: its sync API refuses to start a second one
    while another is alive in the process (the hub's browsers and the report's page share it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver

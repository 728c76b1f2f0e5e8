"""The grader's layers import only downwards: plugins -> boundary -> judge, and ``inside`` (the
code that runs in the sandbox, beside the student's) imports none of them; the judge reads only
``inside.names``, the hand-over's file names, of it. ``cnnkit`` (what
students install) imports nothing of the grader or the kit's tools."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each folder may import of the kit's own packages.
ALLOWED = {
    "cnnkit": {"cnnkit"},
    "cnnkit_grader/inside": {"cnnkit_grader.inside"},
    "cnnkit_grader/judge": {"cnnkit", "cnnkit_grader.judge", "cnnkit_grader.inside.names"},  # the hand-over's names
    "cnnkit_grader/boundary": {"cnnkit", "cnnkit_grader.judge", "cnnkit_grader.boundary", "cnnkit_grader.inside"},
    "cnnkit_grader/plugins": {"cnnkit", "cnnkit_grader.judge", "cnnkit_grader.boundary", "cnnkit_grader.inside",
                              "cnnkit_grader.plugins"},
}
OURS = ("cnnkit", "cnnkit_grader", "cnnkit_tools", "hub")


def imported(path):
    """Every module of the kit's own packages that a file imports, at any depth (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import hides which layer it reaches"
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in OURS}


def _allowed(name, allowed):
    return any(name == a or name.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(folder):
    wrong = {f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted((ROOT / folder).glob("*.py")) for name in imported(path)
             if not _allowed(name, ALLOWED[folder])}
    assert not wrong, sorted(wrong)


def test_every_grader_module_sits_in_a_layer():
    loose = [p.name for p in (ROOT / "cnnkit_grader").glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside plugins/, boundary/, judge/ and inside/: {loose}"

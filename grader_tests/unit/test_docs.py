"""The docs say what the code does: every attack the suite grades is in the table, every link
resolves, and every module, file, setting, command and flag the README and docs/ name exists."""

import re
from pathlib import Path

from cnnkit_tools.lab import attacks

ROOT = Path(__file__).resolve().parents[2]


def test_every_attack_the_suite_grades_is_in_the_docs_table():
    text = (ROOT / "docs" / "grading.md").read_text()
    missing = [attack.name for attack in attacks.ATTACKS + attacks.OUTPUT_ATTACKS if f"| {attack.what} | {attack.nbgrader} |" not in text]
    assert not missing, f"docs/grading.md lacks rows for {missing}"


def test_the_layer_map_names_every_module_of_the_grader():
    """docs/grading.md's table of cnnkit_grader's layers lists each layer's modules, all of them."""
    text = (ROOT / "docs" / "grading.md").read_text()
    for layer in ("plugins", "boundary", "judge", "inside"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `cnnkit_grader/{layer}/` |"))
        named = set(re.findall(r"`(\w+)`", row.split("|")[3]))
        modules = {p.stem for p in (ROOT / "cnnkit_grader" / layer).glob("*.py") if p.stem != "__init__"}
        assert modules <= named, f"docs/grading.md's row for cnnkit_grader/{layer}/ lacks {sorted(modules - named)}"
        assert named <= modules, f"docs/grading.md's row for cnnkit_grader/{layer}/ names {sorted(named - modules)}, which are gone"


def test_every_local_link_in_the_readme_and_docs_resolves():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


# Every page, the published calibration and mutation reports under docs/ included.
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
CODE = [ROOT / "kit", ROOT / "nbgrader_config.py", *sorted(ROOT.glob("cnnkit*/**/*.py")), *sorted(ROOT.glob("hub/**/*.py")),
        *sorted(ROOT.glob("grader_tests/**/conftest.py")),
        *sorted(ROOT.glob("hub/*.sh")), *sorted(ROOT.glob("scripts/*")), *sorted(ROOT.glob(".ci/*"))]


def _named(pattern):
    """(page, name) for every match of ``pattern`` in the README and docs/."""
    return [(page.relative_to(ROOT), match) for page in PAGES for match in re.findall(pattern, page.read_text())]


def _resolves(dotted):
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_module_and_name_the_docs_give_exists():
    wrong = [f"{page}: {name}" for page, name in _named(r"\b(?:cnnkit|cnnkit_grader|cnnkit_tools)(?:\.\w+)+")
             if not name.endswith((".py", ".md", ".json", ".sh")) and not _resolves(name)]
    assert not wrong, wrong


def test_every_file_the_docs_name_exists():
    pattern = r"`((?:cnnkit|cnnkit_grader|cnnkit_tools|hub|grader_tests|scripts|source|release|docs)/[\w./-]*)`"
    wrong = [f"{page}: {name}" for page, name in _named(pattern) if not (ROOT / name).exists()]
    assert not wrong, wrong


def test_every_setting_the_docs_name_is_in_the_settings_table():
    from cnnkit import settings

    known = {s.name for s in settings.SETTINGS}
    wrong = sorted({f"{page}: {name}" for page, name in _named(r"\b((?:CNNKIT|NBGRADER|CIFAR10)_[A-Z0-9_]*[A-Z0-9])\b") if name not in known})
    assert not wrong, wrong


def test_every_kit_command_and_flag_the_docs_give_exists():
    code = "\n".join(path.read_text() for path in CODE if path.is_file())
    commands = set(re.findall(r"^\s+([a-z|]+)\)", (ROOT / "kit").read_text(), re.MULTILINE))
    commands = {c for group in commands for c in group.split("|")}
    wrong = [f"{page}: ./kit {name}" for page, name in _named(r"(?m)(?:^|`)\./kit ([a-z]+)") if name not in commands]
    for page, line in _named(r"(?:\./kit|python -m cnnkit\w*(?:\.\w+)*)[^\n`]*"):
        wrong += [f"{page}: {flag} in `{line.strip()}`" for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", line)
                  if f'"{flag}"' not in code and f"'{flag}'" not in code and f"{flag}=" not in code
                  and f"{flag} " not in code and f"{flag})" not in code]
    assert not wrong, wrong

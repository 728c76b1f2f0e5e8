"""Helpers the fast and slow tiers share."""

import json
import re

from bs4 import BeautifulSoup


def active_content(html, mark="cnnkit-xss"):
    """What on a rendered page a browser would run and that carries the attacker's mark."""
    soup = BeautifulSoup(html, "html.parser")
    found = [s.get_text() for s in soup.find_all("script") if mark in s.get_text()]
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if mark in value and (name.startswith("on") or value.strip().lower().startswith("javascript:")):
                found.append(f"{tag.name} {name}={value}")
    return found


SCHEMES = ("javascript:", "vbscript:", "data:")
ACTIVE_TAGS = ("script", "iframe", "object", "embed", "svg", "frame", "frameset", "base", "meta", "form")


def active_markup(html):
    """Everything on a page that could run or load code, whoever put it there: ``[(tag, what)]``.

    Unlike ``active_content`` it needs no mark: a link to ``javascript:`` is found however the
    attacker spelled it (an HTML parser decodes entities and case the way a browser does)."""
    soup = BeautifulSoup(html, "html.parser")
    found = [(tag.name, str(tag)[:120]) for tag in soup.find_all(ACTIVE_TAGS)]
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            compact = "".join(ch for ch in value if ch.isprintable() and not ch.isspace()).lower()
            if name.lower().startswith("on") or compact.startswith(SCHEMES):
                found.append((tag.name, f"{name}={value[:80]}"))
    return found


def feedback_digest(html):
    """What a student reads of their feedback page, for a golden file: the notebook's score, then
    each graded cell's score, docstring and what it printed (the execution count dropped, and
    figures that vary from run to run, percentages and long decimals, masked)."""
    soup = BeautifulSoup(html, "html.parser")
    lines = [re.search(r"Score: [\d.]+ / [\d.]+", soup.find(class_="panel-heading").get_text()).group(0)]
    for label in soup.find_all(class_="nbgrader-label"):
        if label.get_text(strip=True).startswith("Grade cell:"):
            text = label.find_parent(class_="cell").get_text(" ", strip=True)
            text = re.sub(r"^In\s*\[\d*\]:\s*", "", text)
            text = re.sub(r"\d+\.\d+%", "#%", text)
            lines.append(re.sub(r"\d+\.\d{3,}", "#", text))
    return "\n".join(lines) + "\n"


def grading_record_digest(nb):
    """The autograded notebook's grading record (``metadata.cnnkit``) for a golden file: every
    field, with times and the phases' durations left out (they vary from run to run)."""
    record = dict(nb.metadata["cnnkit"])
    for key in ("seconds", "started_at"):
        record.pop(key, None)
    record["phases"] = [phase["phase"] for phase in record.get("phases", [])]
    return json.dumps(record, indent=1, sort_keys=True) + "\n"

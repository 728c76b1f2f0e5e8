"""Helpers the fast and slow tiers share."""

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

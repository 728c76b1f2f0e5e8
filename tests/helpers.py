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

"""Which sources a person is linked to, and userName collisions resolved deterministically.

A person created by a source has `source == "bitbucket:APP"`; a person who came from elsewhere (the HR file) and
was correlated with a source's record is *linked* to it: `attributes["linkedSources"]` maps the source application
to that person's key there. When they leave the source, the source's `linked_leavers` setting decides: `keep`
(the default: they also come from another source; reported and unlinked) or `leaver`.
"""
from __future__ import annotations

import re
from typing import Any

from console.models import User

LINKED = "linkedSources"
LINKED_LEAVERS = ("keep", "leaver")


def linked_key(user: User, app: str) -> str:
    """The person's key in source `app` when they are linked to it (not created by it), else ""."""
    links = user.attributes.get(LINKED)
    return str(links.get(app, "")) if isinstance(links, dict) else ""


def link(user: User, app: str, key: str) -> None:
    links = dict(user.attributes.get(LINKED) or {})
    links[app] = key
    user.attributes[LINKED] = links


def unlink(user: User, app: str) -> None:
    links = dict(user.attributes.get(LINKED) or {})
    links.pop(app, None)
    if links:
        user.attributes[LINKED] = links
    else:
        user.attributes.pop(LINKED, None)


def source_names(user: User) -> list[str]:
    """The names of the applications or files a person comes from: their origin, then every linked source."""
    origin = user.source.split(":", 1)[1] if ":" in user.source else user.source
    links = user.attributes.get(LINKED)
    return [origin, *(sorted(links) if isinstance(links, dict) else [])]


def _suffixes(key: str) -> list[str]:
    tail = re.sub(r"[^A-Za-z0-9]", "", key).lower()
    return [tail[-n:] for n in (4, 6, 8) if len(tail) >= n] + ([tail] if tail else [])


def unique_user_name(wanted: str, key: str, taken: Any) -> str:
    """`wanted`, or when `taken(name)` says another person holds it, `wanted-SUFFIX` with a suffix from the end of
    the person's source key (`alex-aa08`), lengthened (then numbered) until free: the same name on every run."""
    if not wanted or not taken(wanted):
        return wanted
    candidates = [f"{wanted}-{s}" for s in _suffixes(key)] or [wanted]
    for candidate in candidates:
        if not taken(candidate):
            return candidate
    n = 2
    while taken(f"{candidates[-1]}-{n}"):
        n += 1
    return f"{candidates[-1]}-{n}"

"""TLS by default: a secret is never sent over plain HTTP, or in an LDAP simple bind without TLS, except to a
loopback address, unless the operator explicitly sets `allow_insecure=true` on the application.

Settings that name where credentials go are declared with `Setting(..., carries_secrets=True)`. The rule is
checked when an application is added or changed (service) and again when a connector or source is built
(registry), so an old state cannot bypass it. An allowed exception is recorded with the setting's change in
the report and raised as an `InsecureTransport` warning on every test and run, which front ends show.
"""
from __future__ import annotations

import ipaddress
import warnings
from typing import Any
from urllib.parse import urlsplit

from console.errors import ConfigError
from console.models import Application

from .base import Setting

SETTING = Setting("allow_insecure", "Allow secrets over plain HTTP/LDAP", default=False, kind="bool",
                  help="DANGEROUS: send credentials over http:// or ldap:// without StartTLS to a non-loopback "
                       "host; recorded, and shown as a warning on every test and run")
SECURE_SCHEMES = frozenset({"https", "ldaps"})


class InsecureTransport(UserWarning):
    """An application sends credentials without TLS because its operator allowed it."""


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def plain_urls(app: Application, settings: list[Setting]) -> list[tuple[str, str]]:
    """(setting, URL) of every credential-carrying setting that would travel in clear to a non-loopback host."""
    found = []
    for setting in settings:
        if not setting.carries_secrets:
            continue
        raw = app.settings.get(setting.name)
        text = str(raw if raw not in (None, "") else (setting.default or "")).strip()
        if not text or "://" not in text:
            continue  # empty (the default applies) or a bare host name: https is implied
        url = urlsplit(text)
        scheme = url.scheme.lower()
        if scheme in SECURE_SCHEMES or is_loopback(url.hostname or ""):
            continue
        if scheme == "ldap" and _flag(app.settings.get("start_tls")):
            continue
        found.append((setting.name, text))
    return found


def check(app: Application, settings: list[Setting]) -> list[str]:
    """Refuse (ConfigError) credentials in clear unless allowed; the warnings to show when they are allowed."""
    plain = plain_urls(app, settings)
    if not plain:
        return []
    names = ", ".join(f"{name}={url}" for name, url in plain)
    if not _flag(app.settings.get(SETTING.name)):
        raise ConfigError(f"{app.name}: {names} would send credentials without TLS",
                          hint="use https:// (ldaps:// or start_tls for AD); only a loopback address may go without "
                               f"TLS, unless you accept the risk: idconsole apps set {app.name} allow_insecure=true")
    return [f"{app.name}: INSECURE: credentials are sent without TLS to {names} (allow_insecure=true)"]


def warn(app: Application, settings: list[Setting]) -> list[str]:
    """`check`, raising each warning as InsecureTransport (shown by the front ends) and returning them."""
    notes = check(app, settings)
    for note in notes:
        warnings.warn(note, InsecureTransport, stacklevel=3)
    return notes

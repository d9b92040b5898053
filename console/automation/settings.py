"""Automation settings: how often cycles run, where initial passwords go, which sources they import, and where
failures and held deletions are notified. Kept in the state (table `automation`), secrets only by reference."""
from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from console.errors import BadInput
from console.secrets import check_ref
from console.store import Store

TABLE = "automation"
SETTINGS_DOC = "settings"
LAST_CYCLE_DOC = "last_cycle"
NOTIFY_KINDS = ("webhook", "smtp", "command")
NOTIFY_ON = ("failure", "held", "success")
SMTP_TLS = ("starttls", "ssl", "none")
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days)?\s*$", re.IGNORECASE)
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,60}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def parse_interval(text: str) -> int:
    """Seconds in an interval such as `15m`, `1h`, `90s` or `2d` (a bare number is minutes)."""
    match = _INTERVAL.match(str(text))
    if not match:
        raise BadInput(f"every: {text!r} is not an interval", hint="write it like 15m, 1h or 2d")
    number, unit = int(match.group(1)), (match.group(2) or "m").lower()[0]
    seconds = number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds < 60:
        raise BadInput(f"every: {text} is shorter than a minute", hint="cycles run at most once a minute; try 5m")
    return seconds


def format_interval(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (where plain HTTP or SMTP never leaves the machine)."""
    host = host.strip("[]").casefold()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class AutomationSettings:
    """What `idconsole automate set KEY=VALUE` changes; the defaults are what an unconfigured home does."""

    every: str = "15m"
    password_file: str = ""  # "" = HOME/initial-passwords
    sources: list[str] = field(default_factory=list)  # [] = every inbound source
    unit: str = "idconsole-cycle"
    notify: list[str] = field(default_factory=list)  # webhook, smtp, command
    notify_on: list[str] = field(default_factory=lambda: ["failure", "held"])
    webhook_url: str = ""
    webhook_token: str = ""  # a secret reference, sent as a bearer token
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_from: str = ""
    smtp_to: list[str] = field(default_factory=list)
    smtp_user: str = ""
    smtp_password: str = ""  # a secret reference
    smtp_ca_file: str = ""  # a private CA for the relay's certificate
    command: list[str] = field(default_factory=list)  # argv; the summary arrives on stdin

    SECRET_KEYS = ("webhook_token", "smtp_password")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AutomationSettings:
        known = set(cls.keys())
        return cls(**{k: v for k, v in doc.items() if k in known})

    @property
    def interval(self) -> int:
        return parse_interval(self.every)

    def password_path(self, home: Path) -> Path:
        return Path(self.password_file) if self.password_file else home / "initial-passwords"

    def check(self) -> None:
        """Refuse a combination that cannot work (each value was checked on its own when it was set)."""
        for kind in self.notify:
            if kind == "webhook" and not self.webhook_url:
                raise BadInput("notify=webhook needs webhook_url", hint="idconsole automate set webhook_url=https://…")
            if kind == "smtp" and not (self.smtp_host and self.smtp_from and self.smtp_to):
                raise BadInput("notify=smtp needs smtp_host, smtp_from and smtp_to",
                               hint="idconsole automate set smtp_host=mail.example.com smtp_from=… smtp_to=…")
            if kind == "command" and not self.command:
                raise BadInput("notify=command needs command", hint="idconsole automate set 'command=/usr/local/bin/notify --team ops'")
        if self.smtp_tls == "none" and self.smtp_host and not is_loopback(self.smtp_host):
            raise BadInput(f"smtp_tls=none would send mail to {self.smtp_host} unencrypted",
                           hint="use smtp_tls=starttls (or ssl); none is only for a relay on 127.0.0.1")


def _list(value: str) -> list[str]:
    text = value.strip()
    if text.startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BadInput(f"{text!r} is not a JSON list", hint='write ["a", "b"] or a,b') from None
        return [str(i).strip() for i in items if str(i).strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_value(key: str, value: str, *, home: Path, sources: list[str]) -> Any:
    """The typed, checked value of one setting as an operator typed it; BadInput says what is wrong."""
    value = value.strip()
    if key == "every":
        return format_interval(parse_interval(value))
    if key == "password_file":
        if not value:
            return ""
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise BadInput(f"password_file: {value} is not an absolute path", hint=f"e.g. {home / 'initial-passwords'}")
        if not path.parent.is_dir():
            raise BadInput(f"password_file: the folder {path.parent} does not exist", hint="create it first (mode 700)")
        return str(path)
    if key == "sources":
        names = _list(value)
        unknown = [n for n in names if n not in sources]
        if unknown:
            raise BadInput(f"sources: {', '.join(unknown)} is not an inbound source",
                           hint=f"inbound sources: {', '.join(sources) or 'none yet'}; empty = all of them")
        return names
    if key == "unit":
        if not _UNIT.match(value):
            raise BadInput(f"unit: {value!r} is not a usable unit name", hint="letters, digits, - _ . (e.g. idconsole-cycle)")
        return value
    if key == "notify":
        kinds = [k.casefold() for k in _list(value)]
        kinds = [] if kinds == ["none"] else kinds
        bad = [k for k in kinds if k not in NOTIFY_KINDS]
        if bad:
            raise BadInput(f"notify: {', '.join(bad)} is not a way to notify", hint="webhook, smtp, command or none")
        return kinds
    if key == "notify_on":
        events = [k.casefold().rstrip("s") for k in _list(value)]
        bad = [k for k in events if k not in NOTIFY_ON]
        if bad or not events:
            raise BadInput(f"notify_on: {value!r} is not a list of failure, held, success", hint="e.g. failure,held")
        return events
    if key == "webhook_url":
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise BadInput(f"webhook_url: {value!r} is not an http(s) URL", hint="e.g. https://hooks.example.com/idconsole")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise BadInput(f"webhook_url: {parts.hostname} would receive the summary unencrypted",
                           hint="use https:// (plain http only for a receiver on 127.0.0.1)")
        if parts.username or parts.password:
            raise BadInput("webhook_url: credentials do not belong in the URL",
                           hint="give the token by reference: webhook_token=env:VAR (sent as a bearer token)")
        return value
    if key in AutomationSettings.SECRET_KEYS:
        return check_ref(value) if value else ""
    if key == "smtp_port":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise BadInput(f"smtp_port: {value!r} is not a port", hint="587 (STARTTLS) or 465 (ssl)")
        return int(value)
    if key == "smtp_tls":
        if value.casefold() not in SMTP_TLS:
            raise BadInput(f"smtp_tls: {value!r}", hint="starttls, ssl, or none (a relay on 127.0.0.1 only)")
        return value.casefold()
    if key in ("smtp_from",):
        if value and not _EMAIL.match(value):
            raise BadInput(f"{key}: {value!r} is not an e-mail address")
        return value
    if key == "smtp_to":
        addresses = _list(value)
        bad = [a for a in addresses if not _EMAIL.match(a)]
        if bad:
            raise BadInput(f"smtp_to: {', '.join(bad)} is not an e-mail address", hint="a,b for several")
        return addresses
    if key == "smtp_ca_file":
        if value and not Path(value).is_file():
            raise BadInput(f"smtp_ca_file: {value} does not exist")
        return value
    if key in ("smtp_host", "smtp_user"):
        return value
    if key == "command":
        try:
            argv = _list(value) if value.startswith("[") else shlex.split(value)
        except ValueError as exc:
            raise BadInput(f"command: {exc}", hint='quote it like a shell would, or give a JSON list ["prog", "arg"]') from None
        return argv
    raise BadInput(f"automation has no setting {key!r}", hint=f"settings: {', '.join(AutomationSettings.keys())}")


def load_settings(store: Store) -> AutomationSettings:
    for doc in store.table(TABLE).all():
        if doc.get("doc") == SETTINGS_DOC:
            return AutomationSettings.from_doc(doc)
    return AutomationSettings()


def save_settings(store: Store, settings: AutomationSettings) -> None:
    _put(store, SETTINGS_DOC, settings.to_dict())


def load_last_cycle(store: Store) -> dict[str, Any] | None:
    for doc in store.table(TABLE).all():
        if doc.get("doc") == LAST_CYCLE_DOC:
            return {k: v for k, v in doc.items() if k != "doc"}
    return None


def save_last_cycle(store: Store, summary: dict[str, Any]) -> None:
    _put(store, LAST_CYCLE_DOC, summary)


def _put(store: Store, name: str, body: dict[str, Any]) -> None:
    table = store.table(TABLE)
    table.remove(lambda doc: doc.get("doc") == name)
    table.insert({"doc": name, **body})

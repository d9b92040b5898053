"""Domain model: people, groups, applications, policies, links, events and runs.

Plain dataclasses with `to_doc`/`from_doc` for the store; no I/O here. Validation lives in
`console/validation.py` so that every entry point (CLI, file import, console forms) shares it.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

import orjson

from console import clock

USER_STATUSES = ("active", "leaver")
# `User.source` prefixes of people created by an inbound source: their primary key is that source's account key
# (e.g. a Bitbucket account_id), not an employee number, so it is never pushed as one (see `target_employee_id`).
INBOUND_SOURCE_PREFIXES = ("bitbucket:",)
EMPLOYEE_ID_ATTRIBUTE = "employeeID"  # the mapped attribute targets receive as employeeID / employeeId
FEATURES = ("create", "update", "deactivate", "delete", "groups", "memberships")
DEPROVISION_MODES = ("deactivate", "delete")
LOGIN_METHODS = ("sso", "password")
EVENT_STATUSES = ("success", "failure", "skipped", "unknown")  # unknown: an intent whose outcome a crash left open


def new_id() -> str:
    """`uuid.uuid4().hex` without building the UUID (a third of the time: an import of 100k people makes 100k)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


_SECOND = timedelta(seconds=1)
_last_second: tuple[datetime, datetime, str] | None = None  # the second `utcnow` last formatted: start, end, text


def utcnow() -> str:
    """ISO 8601 UTC timestamp with seconds precision, the one time format of the state. The text is made once a
    second (a sync stamps four records per operation: formatting each took a third of its ~3 us)."""
    global _last_second
    now = clock.now()
    last = _last_second
    if last is not None and now.tzinfo is last[0].tzinfo and last[0] <= now < last[1]:
        return last[2]
    start = now.replace(microsecond=0)
    text = start.isoformat().replace("+00:00", "Z")
    _last_second = (start, start + _SECOND, text)
    return text


def attrs_hash(attrs: dict[str, Any]) -> str:
    """A stable hash of pushed attributes, to tell cheaply whether anything changed."""
    return hashlib.sha256(orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def document_digest(data: bytes | memoryview) -> str:
    """The digest a plan records of a person's document (`console.sync.plan.person_inputs`): of its bytes as orjson
    writes them, so that the stored bytes of an unchanged person give it without building the person."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


_SCALARS = (str, int, float, bool, type(None))


def _copied(value: Any) -> Any:
    """What `dataclasses.asdict` makes of a field value, without its generic machinery for plain JSON values."""
    if isinstance(value, _SCALARS):
        return value
    if type(value) is list:
        return [v if isinstance(v, _SCALARS) else _copied(v) for v in value]
    if type(value) is dict:
        return {k: v if isinstance(v, _SCALARS) else _copied(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return copy.deepcopy(value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


class _Doc:
    """to_doc/from_doc for dataclasses whose field names are the stored keys."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # what @dataclass gives every subclass

    def to_doc(self) -> dict[str, Any]:
        """As `dataclasses.asdict` (a deep copy), ~5x faster for the plain JSON values documents hold."""
        return {name: _copied(getattr(self, name)) for name in _field_names(type(self))}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        names = _field_names(cls)
        return cls(**{k: v for k, v in doc.items() if k in names})


def search_text(employee_id: str, user_name: str, display_name: str, department: str, title: str,
                emails: Iterable[str], given_name: str = "", family_name: str = "") -> str:
    """What the people search looks in, for one person (one line, casefolded): also what screens the people a report's
    person filter may mean (`reports.person_ids`), hence the given and family names."""
    return " ".join((employee_id, user_name, display_name, department, title, *emails, given_name,
                     family_name)).casefold().replace("\n", " ")


@dataclass
class User(_Doc):
    """A person's local identity. `employeeId` is the default primary key."""

    employeeId: str
    userName: str
    givenName: str = ""
    familyName: str = ""
    displayName: str = ""
    emails: list[str] = field(default_factory=list)
    department: str = ""
    title: str = ""
    manager: str = ""  # the manager's primary key value
    status: str = "active"
    source: str = "local"  # local, file:NAME, bitbucket:APP, ...
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    created: str = field(default_factory=utcnow)
    updated: str = field(default_factory=utcnow)

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""

    @property
    def active(self) -> bool:
        return self.status == "active"

    def label(self) -> str:
        """How operators see a person in lists and reports."""
        return self.userName or self.employeeId

    def target_employee_id(self) -> str:
        """What targets receive as employeeID/employeeId: the mapped `employeeID` attribute when there is one, else
        the primary key of people typed in or from a file; "" for people whose key is a source's account id."""
        if EMPLOYEE_ID_ATTRIBUTE in self.attributes:
            return str(self.attributes[EMPLOYEE_ID_ATTRIBUTE] or "")
        return "" if self.source.startswith(INBOUND_SOURCE_PREFIXES) else self.employeeId

    def key(self, primary_key: str = "employeeId") -> str:
        if primary_key in ("employeeId", "userName"):
            return str(getattr(self, primary_key))
        return str(self.attributes.get(primary_key, ""))


@dataclass
class Group(_Doc):
    name: str
    description: str = ""
    members: list[str] = field(default_factory=list)  # user ids
    id: str = field(default_factory=new_id)
    created: str = field(default_factory=utcnow)
    rule: str = ""  # a rule group's members follow this rule (console/rules.py); "" for a manual group


def default_features() -> dict[str, bool]:
    return {"create": True, "update": True, "deactivate": True, "delete": False, "groups": True, "memberships": True}


@dataclass
class Application(_Doc):
    """A target (or source) system. `secrets` holds references only: `env:VAR` or `keyring:SERVICE/NAME`."""

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    features: dict[str, bool] = field(default_factory=default_features)
    deprovision: str = "deactivate"
    delete_grace_days: int = 0
    threshold_count: int = 10
    threshold_percent: int = 20
    max_concurrency: int = 8
    last_test: dict[str, Any] = field(default_factory=dict)  # {time, ok, message}
    last_run: dict[str, Any] = field(default_factory=dict)  # {run, time, counts}
    id: str = field(default_factory=new_id)
    created: str = field(default_factory=utcnow)

    def feature(self, name: str) -> bool:
        return bool(self.features.get(name, default_features().get(name, False)))


@dataclass
class Policy(_Doc):
    """Binds an application to groups and a login method: members of the groups get an account."""

    name: str
    app: str  # application name
    groups: list[str] = field(default_factory=list)  # group names
    login_method: str = "sso"
    enabled: bool = True
    id: str = field(default_factory=new_id)
    created: str = field(default_factory=utcnow)


@dataclass
class Link(_Doc):
    """A local person or group bound to its immutable remote id in one application."""

    app: str
    local_id: str
    remote_id: str
    kind: str = "user"  # user | group
    remote_name: str = ""
    state: str = "active"  # active | deactivated | deleted
    attrs: dict[str, Any] = field(default_factory=dict)  # last pushed attributes
    attrs_hash: str = ""
    # the plan's inputs (`console.sync.plan.inputs_key`) `attrs` were computed from, when they were pushed as
    # computed: a plan skips the person while they are unchanged; "" (older links, anything else) compares attrs
    inputs: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # connector memory (e.g. AD groups to restore)
    id: str = field(default_factory=new_id)
    updated: str = field(default_factory=utcnow)


@dataclass
class Event(_Doc):
    """One record of the provisioning report (see CLI.md)."""

    action: str
    status: str
    app: str = ""
    person: str = ""
    run: str = ""
    operator: str = ""
    changes: dict[str, Any] = field(default_factory=dict)  # field -> [before, after]
    error: str = ""
    person_id: str = ""
    target_id: str = ""
    message: str = ""
    time: str = field(default_factory=utcnow)


@dataclass
class Run(_Doc):
    kind: str  # sync | import
    operator: str = ""
    app: str = ""
    dry_run: bool = False
    status: str = "running"  # running | success | failure | refused | cancelled
    counts: dict[str, int] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)  # pending operations (for resume)
    id: str = field(default_factory=new_id)
    started: str = field(default_factory=utcnow)
    finished: str = ""


@dataclass
class RemoteAccount:
    """An account as a connector sees it: immutable `uid`, a display `name`, target attributes."""

    uid: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    active: bool = True


@dataclass
class RemoteGroup:
    uid: str
    name: str
    members: list[str] = field(default_factory=list)  # remote user uids
    attrs: dict[str, Any] = field(default_factory=dict)

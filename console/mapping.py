"""Attribute mapping for inbound sources: formats/expressions, and validation of each result per target.

A mapping maps target attributes (local model fields, or AD attribute names kept in `User.attributes`)
to a source field (`user.nickname`) or a format (`{user.display_name|first|lower}.{user.display_name|last|lower}`).
A record whose mapped values break a rule is reported (field, value, rule) and skipped as a whole.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tinydb import where

from console.errors import BadInput
from console.inbound.endpoints import (
    DEFAULT_ENDPOINT_NAME,
    PERMISSIONS_ENDPOINT_NAME,
    Endpoint,
    flatten,
    load_endpoints,
)
from console.text import ascii_fold
from console.models import _Doc, new_id

if TYPE_CHECKING:
    from console.store import Store

TABLE = "mappings"
LOCAL_FIELDS = ("employeeId", "userName", "givenName", "familyName", "displayName", "email", "department", "title")
RESERVED = {"id", "status", "source", "created", "updated", "attributes", "emails", "manager"}
DEFAULT_CATEGORY = "Joiners/movers/leavers"
_ATTR = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_CALL = re.compile(r"^([a-z]+)(?:\((.*)\))?$", re.S)


def _words(text: str) -> list[str]:
    return text.split()


FILTERS: dict[str, Callable[..., str]] = {
    "lower": lambda v: v.lower(),
    "upper": lambda v: v.upper(),
    "title": lambda v: " ".join(w[:1].upper() + w[1:] for w in _words(v)),
    "first": lambda v: (_words(v) or [""])[0],
    "last": lambda v: (_words(v) or [""])[-1],
    "butlast": lambda v: " ".join(_words(v)[:-1]),  # all words but the last: the given names
    "initial": lambda v: v.strip()[:1],
    "ascii": ascii_fold,
    "trim": lambda v: v.strip(),
    "nospace": lambda v: "".join(v.split()),
    "default": lambda v, fallback="": v if v.strip() else fallback,
    "truncate": lambda v, n="": v[: int(n)],
}


@dataclass
class _Part:
    literal: str = ""
    name: str = ""  # the source field
    filters: list[tuple[str, list[str]]] = field(default_factory=list)


class Expression:
    """A compiled source field or format; `evaluate(flat)` is None when every referenced field is absent
    (the attribute is then left as it is) unless a `default(x)` filter supplies a value."""

    def __init__(self, text: str) -> None:
        self.text = text
        source = text if "{" in text else "{" + text.strip() + "}"
        self.parts = _parse(source, text)
        self.fields = [p.name for p in self.parts if p.name]
        self.has_default = any(name == "default" for p in self.parts for name, _ in p.filters)
        if not self.fields:
            raise BadInput(f"mapping {text!r} names no source field", hint="write a field (user.nickname) or a "
                           "format with fields in braces ({user.display_name|first|lower})")

    def evaluate(self, flat: dict[str, Any]) -> str | None:
        if all(name not in flat for name in self.fields) and not self.has_default:
            return None
        out = []
        for part in self.parts:
            if not part.name:
                out.append(part.literal)
                continue
            value = _text(flat.get(part.name))
            for name, args in part.filters:
                value = FILTERS[name](value, *args)
            out.append(value)
        return "".join(out)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(source: str, original: str) -> list[_Part]:
    parts: list[_Part] = []
    i, literal = 0, []
    while i < len(source):
        ch = source[i]
        if source.startswith("{{", i) or source.startswith("}}", i):
            literal.append(ch)
            i += 2
        elif ch == "{":
            end = source.find("}", i)
            if end < 0:
                raise BadInput(f"mapping {original!r}: a '{{' is never closed")
            if literal:
                parts.append(_Part(literal="".join(literal)))
                literal = []
            parts.append(_placeholder(source[i + 1:end], original))
            i = end + 1
        elif ch == "}":
            raise BadInput(f"mapping {original!r}: a '}}' has no opening '{{'", hint="write '}}}}' for a literal brace")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append(_Part(literal="".join(literal)))
    return parts


def _placeholder(body: str, original: str) -> _Part:
    name, *chain = [piece.strip() for piece in body.split("|")]
    if not name:
        raise BadInput(f"mapping {original!r}: an empty field name in braces")
    part = _Part(name=name)
    for call in chain:
        match = _CALL.match(call)
        if not match or match.group(1) not in FILTERS:
            raise BadInput(f"mapping {original!r}: unknown filter {call!r}", hint="filters: " + ", ".join(FILTERS))
        fname, raw = match.group(1), match.group(2)
        args = [a.strip().strip('"').strip("'") for a in raw.split(",")] if raw is not None else []
        if fname == "truncate" and (len(args) != 1 or not args[0].isdigit()):
            raise BadInput(f"mapping {original!r}: truncate needs a number of characters, e.g. truncate(20)")
        if fname == "default" and len(args) > 1:
            args = [",".join(args)]
        if fname not in ("truncate", "default") and args:
            raise BadInput(f"mapping {original!r}: filter {fname} takes no argument")
        part.filters.append((fname, args))
    return part


# --- validation per target ------------------------------------------------------------------
_SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<>@')
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_ADDRESS = re.compile(rf"^{_LOCAL}@{_DOMAIN}$")
_MAX_LEN = {"givenname": 64, "familyname": 64, "sn": 64, "displayname": 256, "department": 64, "title": 128,
            "cn": 64, "employeeid": 16, "username": 256, "mail": 256, "email": 256, "userprincipalname": 1024,
            "company": 64, "physicaldeliveryofficename": 128, "telephonenumber": 64, "mobile": 64}


def check_value(attribute: str, value: str) -> str | None:
    """The first rule `value` breaks for `attribute` (local model or AD), or None when it is valid."""
    key = attribute.lower()
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "must not contain control characters"
    if attribute == "employeeId":
        if not value.strip():
            return "is the primary key and must not be empty"
        if value != value.strip():
            return "must not start or end with a space"
        return None
    if attribute == "userName":
        if not value:
            return "must not be empty"
        if any(c.isspace() for c in value):
            return "must not contain spaces"
    if key == "samaccountname":
        if not value:
            return "must not be empty"
        if len(value) > 20:
            return f"is {len(value)} characters; AD allows at most 20"
        bad = sorted({c for c in value if c in _SAM_FORBIDDEN})
        if bad:
            return "contains " + " ".join(bad) + '; AD forbids " / \\ [ ] : ; | = , + * ? < > @'
        if value.endswith(".") or value != value.strip():
            return "must not end with a period or start/end with a space"
    if key == "userprincipalname" and not _ADDRESS.match(value):
        return "is not of the form name@domain.tld"
    if key in ("mail", "email") and value and not _ADDRESS.match(value):
        return "is not a valid e-mail address"
    limit = _MAX_LEN.get(key)
    if limit is not None and len(value) > limit:
        return f"is {len(value)} characters; at most {limit} allowed"
    return None


# --- the mapping configuration --------------------------------------------------------------
@dataclass
class Issue:
    """One invalid result: which record, which field, what value, which rule."""

    key: str
    field: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.key or '(no key)'}: {self.field} = {self.value!r} {self.rule}"


@dataclass
class MappedRecord:
    key: str
    values: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass
class Mapping(_Doc):
    """Which endpoint(s) feed people, the source field holding the primary key, and attribute formats."""

    name: str
    app: str
    description: str = ""
    category: str = DEFAULT_CATEGORY
    endpoints: list[str] = field(default_factory=lambda: [DEFAULT_ENDPOINT_NAME])
    primary_key: str = "user.account_id"
    mappings: dict[str, str] = field(default_factory=dict)  # target attribute -> field or format
    # correlation: a record whose primary key is unknown is matched to an existing person by these local
    # fields (first hit wins); that person keeps their own primary key and gets the source's attributes.
    match_on: list[str] = field(default_factory=lambda: ["bitbucketAccountId", "userName"])
    id: str = field(default_factory=new_id)

    def compiled(self, primary_attr: str = "employeeId") -> dict[str, Expression]:
        """Check the configuration and compile every expression (BadInput names what is wrong)."""
        if not self.name.strip():
            raise BadInput("a mapping needs a name")
        if not self.endpoints:
            raise BadInput(f"mapping {self.name!r} selects no endpoint")
        if not self.primary_key.strip():
            raise BadInput(f"mapping {self.name!r} has no primary key field", hint="e.g. user.account_id")
        out: dict[str, Expression] = {}
        for target, text in self.mappings.items():
            if not _ATTR.match(target) or target in RESERVED:
                raise BadInput(f"mapping {self.name!r}: {target!r} is not a target attribute",
                               hint="use a local field (" + ", ".join(LOCAL_FIELDS) + ") or an AD attribute name")
            if target == primary_attr:
                raise BadInput(f"mapping {self.name!r}: {target} is the primary key attribute",
                               hint=f"it always comes from the primary key field ({self.primary_key})")
            out[target] = Expression(text)
        return out

    def check(self, endpoint_fields: dict[str, Iterable[str]], primary_attr: str = "employeeId") -> list[str]:
        """Refuse the mapping unless every selected endpoint returns the primary key field; warn on unknown fields."""
        expressions = self.compiled(primary_attr)
        missing = [name for name in self.endpoints if name not in endpoint_fields]
        if missing:
            raise BadInput(f"mapping {self.name!r}: endpoint(s) {', '.join(missing)} not found or not tested",
                           hint="test & save each endpoint first")
        lacking = [name for name in self.endpoints if self.primary_key not in set(endpoint_fields[name])]
        if lacking:
            raise BadInput(f"mapping {self.name!r}: primary key field {self.primary_key} is not returned by "
                           f"endpoint(s) {', '.join(repr(n) for n in lacking)}",
                           hint="the primary key must exist in every selected endpoint to join their records")
        known = set().union(*(set(endpoint_fields[n]) for n in self.endpoints))
        return [f"{target}: field {name} was not in the sampled records" for target, expr in expressions.items()
                for name in expr.fields if name not in known]

    def apply(self, record: dict[str, Any], primary_attr: str = "employeeId",
              compiled: dict[str, Expression] | None = None) -> MappedRecord:
        """Map one source record (nested or flat); every invalid value becomes an Issue."""
        flat = flatten(record) if any(isinstance(v, (dict, list)) for v in record.values()) else dict(record)
        expressions = compiled if compiled is not None else self.compiled(primary_attr)
        key = _text(flat.get(self.primary_key)).strip()
        result = MappedRecord(key)
        if not key:
            result.issues.append(Issue("", self.primary_key, flat.get(self.primary_key), "primary key is missing"))
            return result
        result.values[primary_attr] = key
        for target, expr in expressions.items():
            value = expr.evaluate(flat)
            if value is None:
                continue  # the source did not send this field: leave the attribute as it is
            rule = check_value(target, value)
            if rule:
                result.issues.append(Issue(key, target, value, rule))
            result.values[target] = value
        return result

    def preview(self, records: list[dict[str, Any]], primary_attr: str = "employeeId",
                limit: int = 20) -> list[MappedRecord]:
        compiled = self.compiled(primary_attr)
        return [self.apply(r, primary_attr, compiled) for r in records[:limit]]


def default_mapping(app: str, primary_attr: str = "employeeId", endpoint: str = DEFAULT_ENDPOINT_NAME,
                    permissions: str | None = PERMISSIONS_ENDPOINT_NAME) -> Mapping:
    """CLI.md's default: account_id → primary key (kept as bitbucketAccountId, never pushed as an employee ID),
    display_name → names, nickname → userName, the workspace permission (joined from `permissions`) → role,
    e-mail if sent."""
    mapping = Mapping(
        name="Bitbucket default mapping", app=app, description="used when no mapping is configured",
        endpoints=[endpoint, *([permissions] if permissions else [])], primary_key="user.account_id",
        mappings={
            "displayName": "user.display_name",
            "givenName": "{user.display_name|butlast}",
            "familyName": "{user.display_name|last}",
            "userName": "user.nickname",
            "email": "user.email",
            "bitbucketAccountId": "user.account_id",
            "bitbucketUuid": "user.uuid",
            **({"role": "permission"} if permissions else {}),
        },
    )
    mapping.mappings.pop(primary_attr, None)  # the primary key attribute always comes from primary_key
    return mapping


# --- configuration kept in the state table `mappings` ---------------------------------------
def load_mapping(store: Store, app: str, endpoints: list[Endpoint] | None = None) -> Mapping:
    """The application's saved mapping, else the default mapping over its primary endpoint."""
    for doc in store.table(TABLE).all():
        if doc.get("app") == app:
            return Mapping.from_doc(dict(doc))
    return default_for(store, app, endpoints)


def default_for(store: Store, app: str, endpoints: list[Endpoint] | None = None) -> Mapping:
    """The default mapping over the application's primary endpoint (and the preset permissions one, if kept)."""
    primary = next((e.name for e in endpoints or [] if e.primary), DEFAULT_ENDPOINT_NAME)
    permissions = next((e.name for e in endpoints or [] if not e.primary and e.name == PERMISSIONS_ENDPOINT_NAME), None)
    return default_mapping(app, store.primary_key, primary, permissions)


def save_mapping(store: Store, mapping: Mapping) -> list[str]:
    """Check the mapping against the fields its endpoints returned at "test & save", then store it.

    Refused (BadInput) when the primary key field is missing from a selected endpoint; returns warnings.
    """
    fields: dict[str, Iterable[str]] = {e.name: e.fields for e in load_endpoints(store, mapping.app) if e.fields}
    warnings = mapping.check(fields, store.primary_key)
    table = store.table(TABLE)
    table.remove((where("app") == mapping.app) & (where("id") != mapping.id))
    table.upsert(mapping.to_doc(), where("id") == mapping.id)
    return warnings

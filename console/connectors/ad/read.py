"""Reading AD: attribute decoding, base/paged searches by objectGUID, and the employeeID index.

employeeID is not indexed in a default AD (or Samba) schema, so a filter on it scans the whole directory
(≈15 ms per 1,000 objects on Samba, every time). The connector therefore reads the domain's employeeIDs
once (`EmployeeIndex`, one paged scan, refreshed after five minutes, kept current by its own writes) and
asks the DC live only about indexed attributes (userPrincipalName, exact sAMAccountNames). The same scan notes
the domain's taken logon names (sAMAccountName, userPrincipalName): a create whose person and names the index
does not know skips the live look-up; the DC still refuses a name taken since, and the create then looks up live.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Literal

from ldap3 import BASE, SUBTREE, Connection
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from console.errors import NotFound
from console.models import RemoteAccount

from . import names

Scope = Literal["BASE", "LEVEL", "SUBTREE"]  # ldap3's search scopes

PAGE_SIZE = 500
PAGED_RESULTS = "1.2.840.113556.1.4.319"
USER_FILTER = "(&(objectCategory=person)(objectClass=user))"
ACCOUNT_KEYS = ("sAMAccountName", "userPrincipalName", "cn", "displayName", "givenName", "sn", "mail",
                "proxyAddresses", "department", "title", "employeeID")
USER_ATTRS = ["objectGUID", "objectClass", "userAccountControl", "pwdLastSet", "isCriticalSystemObject",
              *ACCOUNT_KEYS]
MULTI_VALUED = frozenset({"proxyAddresses", "memberOf", "member", "objectClass"})
_CANONICAL = {name.lower(): name for name in [*USER_ATTRS, "memberOf", "member", "description", "groupType"]}


def esc(value: str) -> str:
    return str(escape_filter_chars(str(value)))


def decode(entry: dict[str, Any]) -> dict[str, Any]:
    """A raw ldap3 search entry → {"dn", "uid", attribute: str | int | list[str]}."""
    _, dn = names.parse_extended_dn(entry["dn"])
    out: dict[str, Any] = {"dn": dn}
    for raw_name, values in entry["raw_attributes"].items():
        name = _CANONICAL.get(raw_name.lower(), raw_name)
        if name == "objectGUID":
            out["uid"] = names.guid_from_bytes(values[0])
        elif name in MULTI_VALUED:
            out[name] = [v.decode("utf-8", "replace") for v in values]
        elif name in ("userAccountControl", "pwdLastSet", "groupType"):
            out[name] = int(values[0])
        elif values:
            out[name] = values[0].decode("utf-8", "replace")
    return out


def page(conn: Connection, base: str, flt: str, attrs: list[str], cookie: bytes | None,
         controls: list[Any] | None = None) -> tuple[list[dict[str, Any]], bytes | None]:
    """One page of a paged search (RFC 2696 control, 500 entries): (entries, cookie for the next page)."""
    conn.search(base, flt, SUBTREE, attributes=attrs, paged_size=PAGE_SIZE, paged_cookie=cookie, controls=controls)
    entries = [decode(e) for e in conn.response or [] if e.get("type") == "searchResEntry"]
    control = (conn.result.get("controls") or {}).get(PAGED_RESULTS) or {}
    return entries, (control.get("value") or {}).get("cookie") or None


def search(conn: Connection, base: str, flt: str, attrs: list[str], scope: Scope = SUBTREE,
           controls: list[Any] | None = None) -> list[dict[str, Any]]:
    conn.search(base, flt, scope, attributes=attrs, controls=controls)
    return [decode(e) for e in conn.response or [] if e.get("type") == "searchResEntry"]


def read_guid(conn: Connection, uid: str, attrs: list[str], what: str = "account",
              controls: list[Any] | None = None) -> dict[str, Any]:
    """The object with this objectGUID (wherever it has moved), or NotFound."""
    try:
        found = search(conn, names.guid_dn(uid), "(objectClass=*)", attrs, BASE, controls)
    except lx.LDAPNoSuchObjectResult:
        found = []
    if not found:
        raise NotFound(f"AD {what} {uid} does not exist", hint="it was deleted in AD; unlink it or create it again")
    return found[0]


def to_account(d: dict[str, Any]) -> RemoteAccount:
    attrs: dict[str, Any] = {key: d.get(key, [] if key in MULTI_VALUED else "") for key in ACCOUNT_KEYS}
    uac = int(d.get("userAccountControl", 0))
    attrs.update(dn=d["dn"], userAccountControl=uac)
    return RemoteAccount(uid=d["uid"], name=d.get("userPrincipalName") or d.get("sAMAccountName") or d["dn"],
                         attrs=attrs, active=not uac & names.ACCOUNTDISABLE)


def is_person(d: dict[str, Any]) -> bool:
    classes = {c.lower() for c in d.get("objectClass", [])}
    return "user" in classes and "computer" not in classes


class EmployeeIndex:
    """employeeID (case-insensitive) → objectGUIDs of the domain's people; thread-safe."""

    MAX_AGE = 300.0

    def __init__(self, base_dn: str) -> None:
        self.base_dn = base_dn
        self._by_id: dict[str, set[str]] | None = None
        self._names: set[str] = set()
        self._read_at = 0.0
        self._lock = threading.Lock()

    def guids(self, conn: Connection, employee_id: str) -> list[str]:
        with self._lock:
            self._fresh(conn)
            return sorted((self._by_id or {}).get(employee_id.lower(), ()))

    def unknown(self, conn: Connection, employee_id: str, logon_names: list[str]) -> bool:
        """True when the index knows neither this employeeID nor any of these logon names (as of its last scan)."""
        with self._lock:
            self._fresh(conn)
            if employee_id and self._by_id and self._by_id.get(employee_id.lower()):
                return False
            return not any(name.lower() in self._names for name in logon_names if name)

    def _fresh(self, conn: Connection) -> None:
        if self._by_id is None or time.monotonic() - self._read_at > self.MAX_AGE:
            self._by_id, self._names = self._read(conn), self._read_names(conn)
            self._read_at = time.monotonic()

    def _read(self, conn: Connection) -> dict[str, set[str]]:
        by_id: dict[str, set[str]] = {}
        cookie: bytes | None = None
        while True:
            flt = f"(&{USER_FILTER}(employeeID=*))"
            entries, cookie = page(conn, self.base_dn, flt, ["objectGUID", "employeeID"], cookie)
            for d in entries:
                by_id.setdefault(str(d.get("employeeID", "")).lower(), set()).add(d["uid"])
            if not cookie:
                return by_id

    def _read_names(self, conn: Connection) -> set[str]:
        """Every taken sAMAccountName (users, groups, computers share them) and userPrincipalName, lowercased."""
        taken: set[str] = set()
        cookie: bytes | None = None
        while True:
            entries, cookie = page(conn, self.base_dn, "(|(sAMAccountName=*)(userPrincipalName=*))",
                                   ["objectGUID", "sAMAccountName", "userPrincipalName"], cookie)
            for d in entries:
                taken.update(str(d[k]).lower() for k in ("sAMAccountName", "userPrincipalName") if d.get(k))
            if not cookie:
                return taken

    def remember_names(self, *logon_names: str) -> None:
        with self._lock:
            self._names.update(name.lower() for name in logon_names if name)

    def remember(self, employee_id: str, guid: str) -> None:
        with self._lock:
            if self._by_id is not None and employee_id:
                self.forget_locked(guid)
                self._by_id.setdefault(employee_id.lower(), set()).add(guid)

    def forget(self, guid: str) -> None:
        with self._lock:
            self.forget_locked(guid)

    def forget_locked(self, guid: str) -> None:
        for guids in (self._by_id or {}).values():
            guids.discard(guid)

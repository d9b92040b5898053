"""Blocking AD user operations on one ldap3 connection; the connector runs them in worker threads.

Every value placed in a filter passes through `escape_filter_chars` and every RDN through
`escape_rdn` (see names.rdn). Objects are addressed by objectGUID (`<GUID=…>` base searches) and the
DN the DC returns is used for writes, so renamed or moved objects are always found.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection
from ldap3.core import exceptions as lx
from ldap3.protocol.microsoft import extended_dn_control

from console.errors import BadInput, NotFound, Rejected
from console.models import RemoteAccount

from . import names
from .config import ADConfig
from .read import (
    ACCOUNT_KEYS,
    MULTI_VALUED,
    USER_ATTRS,
    USER_FILTER,
    EmployeeIndex,
    esc,
    is_person,
    read_guid,
    search,
    to_account,
)

Handover = Callable[[str, str, str], None]  # (sAMAccountName, userPrincipalName, password)
Created = tuple[RemoteAccount, str | None, bool]  # (account, initial password not handed over, adopted)

USER_CLASSES = ["top", "person", "organizationalPerson", "user"]
WRITABLE = frozenset(ACCOUNT_KEYS) - {"sAMAccountName", "cn"}  # cn changes by rename; logon names stay stable
TREE_DELETE = ("1.2.840.113556.1.4.805", True, None)
SAM_BATCH = 10  # sAMAccountName candidates checked per search (jdoe … jdoe10)


def _values(value: Any) -> list[str]:
    """An attribute value as LDAP values: a list as is, "" or None as no value (clears it)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value in ("", None) else [str(value)]


def _lower(d: dict[str, Any], key: str) -> str:
    return str(d.get(key, "")).lower()


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc)


class UserOps:
    """User lifecycle against one domain: look up, create (adopt), update, (de)activate, delete."""

    def __init__(self, cfg: ADConfig) -> None:
        self.cfg = cfg
        self.employees = EmployeeIndex(cfg.base_dn)

    # --- look-up -------------------------------------------------------------------------------
    def lookup(self, conn: Connection, attrs: dict[str, Any]) -> tuple[dict[str, Any] | None, set[str]]:
        """(this person's account or None, the taken names among the first sAMAccountName candidates):
        employeeID from the index, userPrincipalName and exact sAMAccountNames live (indexed: fast)."""
        emp, upn, sam = (str(attrs.get(k) or "") for k in ("employeeID", "userPrincipalName", "sAMAccountName"))
        if not (emp or upn or sam):
            raise BadInput("an AD account needs an employeeID, userPrincipalName or sAMAccountName to be looked up")
        found: dict[str, dict[str, Any]] = {}
        for guid in self.employees.guids(conn, emp) if emp else []:
            try:
                found[guid] = read_guid(conn, guid, USER_ATTRS)
            except NotFound:
                self.employees.forget(guid)
        terms = [f"(&{USER_FILTER}(userPrincipalName={esc(upn)}))"] if upn else []
        terms += [f"(sAMAccountName={esc(c)})" for c in self._candidates(sam, 1)]
        if terms:
            found.update((d["uid"], d) for d in search(conn, self.cfg.base_dn, f"(|{''.join(terms)})", USER_ATTRS))
        taken = {_lower(d, "sAMAccountName") for d in found.values()}
        return self._match([d for d in found.values() if is_person(d)], emp, upn, sam, attrs), taken

    @staticmethod
    def _candidates(base: str, first: int) -> list[str]:
        return [names.sam_candidate(base, n) for n in range(first, first + SAM_BATCH)] if base else []

    def _free_sam(self, conn: Connection, base: str, taken: set[str]) -> str:
        """The first candidate (jdoe, jdoe2, …) nobody holds; `taken` covers the first batch already."""
        for first in range(1, 1000, SAM_BATCH):
            batch = self._candidates(base, first)
            if first > 1:
                flt = "(|" + "".join(f"(sAMAccountName={esc(c)})" for c in batch) + ")"
                taken |= {_lower(d, "sAMAccountName") for d in search(conn, self.cfg.base_dn, flt, ["sAMAccountName"])}
            free = next((c for c in batch if c.lower() not in taken), "")
            if free:
                return free
        raise Rejected(f"no free sAMAccountName left for {base}", hint="change sam_format")

    @staticmethod
    def _match(users: list[dict[str, Any]], emp: str, upn: str, sam: str,
               attrs: dict[str, Any]) -> dict[str, Any] | None:
        """employeeID first, then UPN (unless it carries another person's employeeID), then a legacy
        account with the proposed logon name, the same given and family name and no employeeID."""
        if emp:
            same = [d for d in users if _lower(d, "employeeID") == emp.lower()]
            if len(same) > 1:
                raise Rejected(f"{len(same)} AD accounts carry employeeID {emp}",
                               detail="; ".join(d["dn"] for d in same),
                               hint="remove the duplicate in AD; idconsole does not guess")
            if same:
                return same[0]
        for d in users:
            if upn and _lower(d, "userPrincipalName") == upn.lower():
                other = str(d.get("employeeID", ""))
                if emp and other and other.lower() != emp.lower():
                    raise Rejected(f"userPrincipalName {upn} already belongs to another person's account",
                                   detail=f"{d['dn']} (employeeID {other})",
                                   hint="give this person a different userName")
                return d
        for d in users:
            if sam and _lower(d, "sAMAccountName") == sam.lower() and not d.get("employeeID") and \
                    _lower(d, "givenName") == _lower(attrs, "givenName") and _lower(d, "sn") == _lower(attrs, "sn"):
                return d
        return None

    # --- create ----------------------------------------------------------------------------------
    def create(self, conn: Connection, attrs: dict[str, Any], handover: Handover | None) -> Created:
        """Adopt this person's account if it exists; else add it disabled, set the password, enable it. The
        password goes to `handover` when there is one, else it is returned (once)."""
        base_sam = str(attrs.get("sAMAccountName") or "")
        cn = names.common_name(str(attrs.get("cn") or attrs.get("displayName") or ""), base_sam)
        rdn_cn = cn
        upn = str(attrs.get("userPrincipalName") or "")
        taken: set[str]
        for attempt in range(8):
            if attempt == 0 and self.employees.unknown(conn, str(attrs.get("employeeID") or ""),
                                                       [upn, *self._candidates(base_sam, 1)]):
                match, taken = None, set()  # nobody holds this person's id or names: no live look-up (the DC
                # still refuses a name taken since the index's scan, and the next attempt looks up live)
            else:
                match, taken = self.lookup(conn, attrs)
            if match:
                return self._adopt(conn, match, attrs, handover)
            sam = self._free_sam(conn, base_sam, taken)
            dn = f"{names.rdn(rdn_cn)},{self.cfg.users_ou}"
            payload: dict[str, Any] = {k: v for k, v in attrs.items() if k in WRITABLE and v not in ("", [], None)}
            payload.update(sAMAccountName=sam, userAccountControl=names.NORMAL_ACCOUNT | names.ACCOUNTDISABLE)
            try:
                conn.add(dn, USER_CLASSES, payload)
            except lx.LDAPEntryAlreadyExistsResult as exc:
                if "samaccountname" not in _message(exc).lower():  # the DN is taken: a namesake in the same OU
                    suffix = f" ({sam})"
                    rdn_cn = cn[: names.CN_MAX - len(suffix)] + suffix
                continue  # look up again: a concurrent run may have created this very person
            except lx.LDAPConstraintViolationResult as exc:
                if "userprincipalname" in _message(exc).lower():
                    continue  # the next look-up adopts the holder or names the clash
                raise
            upn = str(payload.get("userPrincipalName", ""))
            password = self._activate_new(conn, dn, sam, upn, attrs, handover, rollback=True)
            # the DC holds what the add wrote: read back only the objectGUID it assigned (decoding the whole entry
            # costs the client more CPU than the add itself); a test pins this against a full read
            guid = search(conn, dn, "(objectClass=*)", ["objectGUID"], BASE)[0]["uid"]
            account = to_account({**payload, "dn": dn, "uid": guid, "cn": rdn_cn, "objectClass": USER_CLASSES,
                                  "userAccountControl": names.NORMAL_ACCOUNT})
            self.employees.remember(str(attrs.get("employeeID") or ""), account.uid)
            self.employees.remember_names(sam, upn)
            return account, password, False
        raise Rejected(f"could not create {base_sam}: names kept clashing",
                       hint="run again; check AD for a duplicate of this person")

    def _activate_new(self, conn: Connection, dn: str, sam: str, upn: str, attrs: dict[str, Any],
                      handover: Handover | None, rollback: bool) -> str | None:
        """Set a generated password (TLS only), then enable; a half-created account is removed again. The
        password, unless `handover` took it."""
        avoid = [sam, str(attrs.get("displayName", "")), str(attrs.get("givenName", "")), str(attrs.get("sn", ""))]
        password = names.generate_password(avoid)
        try:
            conn.extend.microsoft.modify_password(dn, password)
            conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [names.NORMAL_ACCOUNT])],
                             "pwdLastSet": [(MODIFY_REPLACE, ["0"])]})  # must change it at first logon
        except lx.LDAPException as exc:
            if rollback:
                with suppress(lx.LDAPException):
                    conn.delete(dn)
            if isinstance(exc, lx.LDAPConstraintViolationResult):
                raise Rejected(f"the domain refused the initial password for {sam}", detail=_message(exc),
                               hint="the domain password policy is stricter than the generated password (20 "
                                    "characters, 4 classes): lower minPwdLength or ask for longer passwords") from None
            raise
        if handover:
            handover(sam, upn, password)
            return None
        return password

    def _adopt(self, conn: Connection, d: dict[str, Any], attrs: dict[str, Any],
               handover: Handover | None) -> Created:
        """Link an existing account and bring its attributes in line; finish an interrupted create."""
        changes = {k: v for k, v in attrs.items() if k in WRITABLE and v != d.get(k, [] if k in MULTI_VALUED else "")}
        if changes:
            self.update(conn, d["uid"], changes)
        parent = names.split_dn(d["dn"])[1]
        password = None
        if d.get("userAccountControl", 0) & names.ACCOUNTDISABLE and int(d.get("pwdLastSet", 1)) == 0 \
                and names.same_dn(parent, self.cfg.users_ou):
            password = self._activate_new(conn, d["dn"], d["sAMAccountName"], str(d.get("userPrincipalName", "")),
                                          attrs, handover, rollback=False)
        return to_account(read_guid(conn, d["uid"], USER_ATTRS)), password, True

    # --- update, rename, move ----------------------------------------------------------------------
    def update(self, conn: Connection, uid: str, changes: dict[str, Any]) -> None:
        """Write only the changed attributes; a new cn/displayName renames the object (modify_dn)."""
        unknown = set(changes) - WRITABLE - {"cn", "sAMAccountName"}
        if unknown:
            raise BadInput(f"AD attributes {sorted(unknown)} cannot be updated by idconsole",
                           hint=f"updatable: {', '.join(sorted(WRITABLE | {'cn'}))}")
        d = read_guid(conn, uid, USER_ATTRS)
        mods: dict[str, Any] = {}
        for key in sorted(set(changes) & WRITABLE):
            value = changes[key]
            if key == "proxyAddresses":
                value = names.merge_proxy_addresses(d.get("proxyAddresses", []), list(value or []))
            mods[key] = [(MODIFY_REPLACE, _values(value))]
        if mods:
            try:
                conn.modify(d["dn"], mods)
                if "employeeID" in changes:
                    self.employees.remember(str(changes["employeeID"] or ""), uid)
            except lx.LDAPConstraintViolationResult as exc:
                if "userprincipalname" in _message(exc).lower():
                    upn = changes.get("userPrincipalName")
                    raise Rejected(f"userPrincipalName {upn} is already used by another account", detail=_message(exc),
                                   hint="give this person a different userName") from None
                raise
        new_cn = changes.get("cn")
        if not new_cn and changes.get("displayName"):
            new_cn = names.common_name(str(changes["displayName"]), d["sAMAccountName"])
        if new_cn and new_cn != d.get("cn"):
            self.rename(conn, d["dn"], str(new_cn), d["sAMAccountName"])

    def rename(self, conn: Connection, dn: str, cn: str, sam: str) -> str:
        """modify_dn to `CN=<cn>` in the same OU (`CN=<cn> (<sam>)` if a namesake holds it); the new DN."""
        parent = names.split_dn(dn)[1]
        for candidate in (cn, cn[: names.CN_MAX - len(sam) - 3] + f" ({sam})"):
            try:
                conn.modify_dn(dn, names.rdn(candidate))
                return f"{names.rdn(candidate)},{parent}"
            except lx.LDAPEntryAlreadyExistsResult:
                continue
        raise Rejected(f"cannot rename {dn}: {cn!r} is taken in its OU")

    def move(self, conn: Connection, dn: str, new_parent: str, sam: str) -> str:
        """modify_dn into another OU keeping the RDN (suffixing it on a clash); the new DN."""
        rdn_value = names.split_dn(dn)[0]
        cn = str(search(conn, dn, "(objectClass=*)", ["cn"], BASE)[0].get("cn", "")) or sam
        for candidate in (rdn_value, names.rdn(cn[: names.CN_MAX - len(sam) - 3] + f" ({sam})")):
            try:
                conn.modify_dn(dn, candidate, new_superior=new_parent)
                return f"{candidate},{new_parent}"
            except lx.LDAPEntryAlreadyExistsResult:
                continue
        raise Rejected(f"cannot move {dn} to {new_parent}: its name is taken there")

    # --- deprovision ---------------------------------------------------------------------------------
    def deactivate(self, conn: Connection, uid: str) -> dict[str, Any]:
        """Set ACCOUNTDISABLE (other bits kept), move to the disabled OU, drop group memberships;
        returns {"ou": where it was, "groups": [group objectGUIDs]} for `reactivate`."""
        d = read_guid(conn, uid, ["userAccountControl", "memberOf", "sAMAccountName"], controls=[extended_dn_control()])
        dn, uac, sam = d["dn"], int(d.get("userAccountControl", 0)), str(d.get("sAMAccountName", ""))
        groups = [names.parse_extended_dn(value) for value in d.get("memberOf", [])]
        if not uac & names.ACCOUNTDISABLE:
            conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [uac | names.ACCOUNTDISABLE])]})
        parent = names.split_dn(dn)[1]
        remembered: dict[str, Any] = {"groups": [guid for guid, _ in groups]}
        if self.cfg.disabled_ou and not names.same_dn(parent, self.cfg.disabled_ou):
            remembered["ou"] = parent
            dn = self.move(conn, dn, self.cfg.disabled_ou, sam)
        for _, group_dn in groups:  # a group gone or a membership already removed is fine
            with suppress(lx.LDAPNoSuchObjectResult, lx.LDAPNoSuchAttributeResult, lx.LDAPUnwillingToPerformResult):
                conn.modify(group_dn, {"member": [(MODIFY_DELETE, [dn])]})
        return remembered

    def reactivate(self, conn: Connection, uid: str, remembered: dict[str, Any]) -> None:
        """Clear ACCOUNTDISABLE, move back (remembered OU, else the users OU), restore remembered groups."""
        d = read_guid(conn, uid, ["userAccountControl", "sAMAccountName"])
        dn, uac, sam = d["dn"], int(d.get("userAccountControl", 0)), str(d.get("sAMAccountName", ""))
        if uac & names.ACCOUNTDISABLE:
            conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [uac & ~names.ACCOUNTDISABLE])]})
        target = str(remembered.get("ou") or self.cfg.users_ou)
        if not names.same_dn(names.split_dn(dn)[1], target):
            try:
                dn = self.move(conn, dn, target, sam)
            except lx.LDAPNoSuchObjectResult:  # the remembered OU is gone
                dn = self.move(conn, dn, self.cfg.users_ou, sam) if target != self.cfg.users_ou else dn
        for group_uid in remembered.get("groups", []):
            try:
                group_dn = read_guid(conn, group_uid, ["cn"], what="group")["dn"]
                conn.modify(group_dn, {"member": [(MODIFY_ADD, [dn])]})
            except (NotFound, lx.LDAPEntryAlreadyExistsResult, lx.LDAPAttributeOrValueExistsResult):
                pass  # group deleted meanwhile, or already a member again

    def delete(self, conn: Connection, uid: str, what: str = "account") -> None:
        """Delete the object (and any children, e.g. mobile devices); an absent object is already gone."""
        try:
            d = read_guid(conn, uid, ["isCriticalSystemObject"], what=what)
        except NotFound:
            return
        if str(d.get("isCriticalSystemObject", "")).upper() == "TRUE":
            raise Rejected(f"{d['dn']} is a critical system object", hint="idconsole never deletes built-in AD objects")
        with suppress(lx.LDAPNoSuchObjectResult):
            conn.delete(d["dn"], controls=[TREE_DELETE])
        self.employees.forget(uid)

"""Blocking AD group operations: create (or adopt) in the groups OU, member deltas."""
from __future__ import annotations

from contextlib import suppress
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, Connection
from ldap3.core import exceptions as lx
from ldap3.protocol.microsoft import extended_dn_control

from console.errors import NotFound, Rejected
from console.models import RemoteGroup

from . import names
from .config import ADConfig
from .read import esc, read_guid, search

GROUP_ATTRS = ["objectGUID", "cn", "sAMAccountName", "description", "groupType", "member"]
GUIDS_PER_SEARCH = 100
VALUES_PER_MODIFY = 500


def to_group(d: dict[str, Any]) -> RemoteGroup:
    members = [guid for guid, _ in (names.parse_extended_dn(v) for v in d.get("member", [])) if guid]
    return RemoteGroup(uid=d["uid"], name=str(d.get("cn", "")), members=members,
                       attrs={"dn": d["dn"], "sAMAccountName": d.get("sAMAccountName", ""),
                              "description": d.get("description", "")})


class GroupOps:
    """Groups live in the groups OU; a same-named group elsewhere (e.g. a built-in one) is never adopted."""

    def __init__(self, cfg: ADConfig) -> None:
        self.cfg = cfg

    def lookup(self, conn: Connection, name: str) -> dict[str, Any] | None:
        cn, sam = names.common_name(name, names.group_sam(name)), names.group_sam(name)
        found = search(conn, self.cfg.base_dn, f"(&(objectClass=group)(|(cn={esc(cn)})(sAMAccountName={esc(sam)})))",
                       GROUP_ATTRS, controls=[extended_dn_control()])
        for d in found:
            in_ou = names.same_dn(names.split_dn(d["dn"])[1], self.cfg.groups_ou)
            if in_ou and str(d.get("cn", "")).lower() == cn.lower():
                return d
        if found:
            holder = found[0]
            title = (f"a group named {name!r} already exists outside idconsole's groups OU"
                     if str(holder.get("cn", "")).lower() == cn.lower()
                     else f"the group logon name {sam!r} is already used by {holder['dn']}")
            raise Rejected(title, detail=holder["dn"],
                           hint="rename one of the groups; idconsole only manages groups in its groups OU")
        return None

    def create(self, conn: Connection, name: str, description: str) -> RemoteGroup:
        for _attempt in range(3):
            existing = self.lookup(conn, name)
            if existing:
                return to_group(existing)
            dn = f"{names.rdn(names.common_name(name, names.group_sam(name)))},{self.cfg.groups_ou}"
            attrs: dict[str, Any] = {"sAMAccountName": names.group_sam(name), "groupType": names.GLOBAL_SECURITY_GROUP}
            if description:
                attrs["description"] = description
            try:
                conn.add(dn, ["top", "group"], attrs)
            except lx.LDAPEntryAlreadyExistsResult:
                continue  # created meanwhile (or a name clash): the next look-up adopts or explains
            return to_group(search(conn, dn, "(objectClass=*)", GROUP_ATTRS, BASE)[0])
        raise Rejected(f"could not create group {name!r}: it keeps clashing", hint="check the groups OU in AD")

    def resolve_members(self, conn: Connection, uids: list[str]) -> dict[str, str]:
        """objectGUID → DN for every member uid, or NotFound naming the missing ones (nothing is changed)."""
        wanted = [names.normalize_guid(uid) for uid in uids]
        dns: dict[str, str] = {}
        for start in range(0, len(wanted), GUIDS_PER_SEARCH):
            chunk = wanted[start : start + GUIDS_PER_SEARCH]
            flt = "(|" + "".join(names.guid_filter(uid) for uid in chunk) + ")"
            for d in search(conn, self.cfg.base_dn, flt, ["objectGUID"]):
                dns[d["uid"]] = d["dn"]
        missing = [uid for uid in wanted if uid not in dns]
        if missing:
            raise NotFound(f"{len(missing)} member(s) do not exist in AD", detail=", ".join(missing[:10]),
                           hint="their accounts were deleted in AD; reconcile the links")
        return dns

    def change_members(self, conn: Connection, group_uid: str, member_uids: list[str], add: bool) -> None:
        """Add or remove members (deltas only): one modify per 500 members, then one by one if some
        were already (not) members, which AD reports for the whole modify."""
        group_dn = read_guid(conn, group_uid, ["cn"], what="group")["dn"]
        member_dns = list(self.resolve_members(conn, member_uids).values())
        operation = MODIFY_ADD if add else MODIFY_DELETE
        harmless = (lx.LDAPEntryAlreadyExistsResult, lx.LDAPAttributeOrValueExistsResult) if add else \
            (lx.LDAPNoSuchAttributeResult, lx.LDAPUnwillingToPerformResult)
        for start in range(0, len(member_dns), VALUES_PER_MODIFY):
            chunk = member_dns[start : start + VALUES_PER_MODIFY]
            try:
                conn.modify(group_dn, {"member": [(operation, chunk)]})
            except harmless:
                for dn in chunk:
                    with suppress(*harmless):
                        conn.modify(group_dn, {"member": [(operation, [dn])]})

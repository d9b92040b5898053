"""The Graph sandbox's in-memory tenant: users, groups, memberships, licences and the deleted-items bin.

Methods raise `GraphFault` with Graph's own codes and messages; the HTTP layer turns them into responses.
Callers hold `Directory.lock` around every call (the server is threaded).
"""
from __future__ import annotations

import threading
from typing import Any

from console.sandbox import graph_schema as schema
from console.sandbox.graph_errors import (
    MSG_INVALID_VALUES, MSG_MAIL_ENABLED, MSG_MEMBER_EXISTS, MSG_MEMBER_MISSING, MSG_PROXY_EXISTS, MSG_UPN_EXISTS,
    MSG_USAGE_LOCATION, GraphFault, invalid_value, not_found,
)


def _bad(message: str) -> GraphFault:
    return GraphFault(400, "Request_BadRequest", message)



def deleted_upn(object_id: str, upn: str) -> str:
    """A soft-deleted user's UPN in Entra: the object id without hyphens in front of the original."""
    return object_id.replace("-", "") + upn

class Directory:
    """One tenant. `consistency_lag` makes each new object answer 404 to its next N direct references."""

    def __init__(self, tenant_id: str, domains: list[str], skus: list[dict[str, Any]] | None = None) -> None:
        self.lock = threading.RLock()
        self.tenant_id = tenant_id
        self.domains = {d.lower() for d in domains}
        self.primary_domain = domains[0].lower()
        self.skus = {s["skuId"]: s for s in (skus or schema.DEFAULT_SKUS)}
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}  # id -> record (users and Microsoft 365 groups)
        self.consistency_lag = 0
        self.fresh: dict[str, int] = {}
        self._seq = 0

    # --- helpers -------------------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _made(self, object_id: str) -> None:
        if self.consistency_lag > 0:
            self.fresh[object_id] = self.consistency_lag

    def check_replicated(self, object_id: str) -> None:
        """The eventual-consistency window: a just-created object is not yet visible to direct reads/writes."""
        remaining = self.fresh.get(object_id, 0)
        if remaining > 0:
            self.fresh[object_id] = remaining - 1
            raise not_found(object_id)

    def load_users(self, documents: list[dict[str, Any]]) -> None:
        for doc in documents:
            upn = str(doc.get("userPrincipalName") or "")
            if "@" in upn:
                self.domains.add(upn.split("@", 1)[1].lower())
            body = {k: v for k, v in doc.items() if not k.startswith("@")}
            body.setdefault("mailNickname", upn.split("@", 1)[0])
            record = schema.new_user_record(body, self._next_seq())
            self.users[record["id"]] = record

    def user(self, key: str) -> dict[str, Any]:
        """A user by id or userPrincipalName (case-insensitive), like `/users/{id | userPrincipalName}`."""
        if key in self.users:
            self.check_replicated(key)
            return self.users[key]
        folded = key.lower()
        for record in self.users.values():
            if (record["userPrincipalName"] or "").lower() == folded:
                self.check_replicated(record["id"])
                return record
        raise not_found(key)

    def group(self, group_id: str) -> dict[str, Any]:
        if group_id not in self.groups:
            raise not_found(group_id)
        self.check_replicated(group_id)
        return self.groups[group_id]

    def _upn_taken(self, upn: str, except_id: str = "") -> bool:
        folded = upn.lower()
        return any((u["userPrincipalName"] or "").lower() == folded and u["id"] != except_id
                   for u in self.users.values())

    def _proxy_taken(self, mail: str, except_id: str = "") -> bool:
        wanted = f"smtp:{mail.lower()}"
        return any(u["id"] != except_id and (wanted in (p.lower() for p in u["proxyAddresses"])
                                              or (u["mail"] or "").lower() == mail.lower())
                   for u in self.users.values())

    # --- users ---------------------------------------------------------------------------------------------------
    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        clean = schema.check_writable(body, schema.USER_WRITABLE, "User")
        schema.require(clean, ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"))
        self._validate_user(clean)
        schema.check_password((clean["passwordProfile"] or {}).get("password"), clean["mailNickname"])
        if self._upn_taken(clean["userPrincipalName"]):
            raise _bad(MSG_UPN_EXISTS)
        if clean.get("mail") and self._proxy_taken(clean["mail"]):
            raise _bad(MSG_PROXY_EXISTS)
        record = schema.new_user_record(clean, self._next_seq())
        self.users[record["id"]] = record
        self._made(record["id"])
        return record

    def _validate_user(self, clean: dict[str, Any]) -> None:
        if "userPrincipalName" in clean:
            schema.check_upn(clean["userPrincipalName"], self.domains)
        if "mailNickname" in clean:
            schema.check_nickname(clean["mailNickname"], "User")
        if "usageLocation" in clean:
            schema.check_usage_location(clean["usageLocation"])
        for name in ("displayName", "givenName", "surname", "department", "jobTitle"):
            value = clean.get(name)
            limit = 256 if name == "displayName" else 64
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise invalid_value(name)
        employee_id = clean.get("employeeId")
        if employee_id is not None and (not isinstance(employee_id, str) or len(employee_id) > 16):
            raise invalid_value("employeeId")
        if "displayName" in clean and not clean["displayName"]:
            raise _bad("Invalid value specified for property 'displayName' of resource 'User'.")
        if "accountEnabled" in clean and not isinstance(clean["accountEnabled"], bool):
            raise _bad("Invalid value specified for property 'accountEnabled' of resource 'User'.")

    def update_user(self, key: str, body: dict[str, Any]) -> None:
        record = self.user(key)
        clean = schema.check_writable(body, schema.USER_WRITABLE, "User")
        self._validate_user(clean)
        if clean.get("userPrincipalName") and self._upn_taken(clean["userPrincipalName"], record["id"]):
            raise _bad(MSG_UPN_EXISTS)
        if clean.get("mail") and self._proxy_taken(clean["mail"], record["id"]):
            raise _bad(MSG_PROXY_EXISTS)
        if "passwordProfile" in clean:
            password = (clean.pop("passwordProfile") or {}).get("password")
            schema.check_password(password, record["mailNickname"] or "")
            record["_password"] = password
        record.update(clean)
        if clean.get("mail"):
            smtp = f"SMTP:{clean['mail']}"
            record["proxyAddresses"] = [smtp] + [p for p in record["proxyAddresses"] if p.lower() != smtp.lower()
                                                 and not p.startswith("SMTP:")]

    def revoke_sessions(self, key: str) -> None:
        self.user(key)["signInSessionsValidFromDateTime"] = schema.now_iso()

    def delete_user(self, key: str) -> None:
        record = self.user(key)
        record["_groups"] = [gid for gid, group in self.groups.items() if record["id"] in group["_members"]]
        for gid in record["_groups"]:
            self.groups[gid]["_members"].remove(record["id"])
        record["deletedDateTime"] = schema.now_iso()
        # Entra puts the object id (no hyphens) in front of a soft-deleted user's UPN, which frees the original one
        record["_upn"] = record["userPrincipalName"]
        record["userPrincipalName"] = deleted_upn(record["id"], record["userPrincipalName"])
        del self.users[record["id"]]
        self.deleted[record["id"]] = record

    def assign_license(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self.user(key)
        add, remove = body.get("addLicenses"), body.get("removeLicenses")
        if not isinstance(add, list) or not isinstance(remove, list):
            raise _bad("One or more parameters of the function import 'assignLicense' are missing from the request "
                       "payload. The missing parameters are: " + ("addLicenses." if not isinstance(add, list)
                                                                  else "removeLicenses."))
        if add and not record["usageLocation"]:
            raise _bad(MSG_USAGE_LOCATION)
        assigned = {lic["skuId"]: lic for lic in record["assignedLicenses"]}
        for item in add:
            sku_id = str((item or {}).get("skuId") or "").lower()
            if sku_id not in self.skus:
                raise _bad(f"License {sku_id} does not correspond to a valid company License.")
            assigned[sku_id] = {"skuId": sku_id, "disabledPlans": list(item.get("disabledPlans") or [])}
        for sku_id in remove:
            if str(sku_id).lower() not in assigned:
                raise _bad("User does not have a corresponding license.")
            del assigned[str(sku_id).lower()]
        record["assignedLicenses"] = list(assigned.values())
        self._refresh_plans(record)
        return record

    def _refresh_plans(self, record: dict[str, Any]) -> None:
        plans = []
        for lic in record["assignedLicenses"]:
            for plan_id, name in self.skus[lic["skuId"]]["plans"]:
                if plan_id not in lic["disabledPlans"]:
                    plans.append({"assignedDateTime": schema.now_iso(), "capabilityStatus": "Enabled",
                                  "service": name, "servicePlanId": plan_id})
        record["assignedPlans"] = plans
        has_mailbox = any(p["service"] in schema.EXCHANGE_PLANS for p in plans)
        if has_mailbox and not record["mail"]:  # Exchange Online provisions the mailbox and stamps `mail`
            record["mail"] = record["userPrincipalName"]
            record["proxyAddresses"] = [f"SMTP:{record['mail']}"]

    def consumed_units(self, sku_id: str) -> int:
        return sum(1 for u in self.users.values() for lic in u["assignedLicenses"] if lic["skuId"] == sku_id)

    def sign_in(self, upn: str, password: str) -> str:
        """'ok' or the AADSTS-like reason a password sign-in would fail (for tests and the demo)."""
        try:
            record = self.user(upn)
        except GraphFault:
            return "AADSTS50034: The user account does not exist in this directory."
        if record["_password"] is None or record["_password"] != password:
            return "AADSTS50126: Error validating credentials due to invalid username or password."
        if not record["accountEnabled"]:
            return "AADSTS50057: The user account is disabled."
        return "ok"

    # --- deleted items -------------------------------------------------------------------------------------------
    def deleted_of_type(self, odata_type: str) -> list[dict[str, Any]]:
        is_user = odata_type == "user"
        return [r for r in self.deleted.values() if ("userPrincipalName" in r) == is_user]

    def deleted_item(self, object_id: str) -> dict[str, Any]:
        if object_id not in self.deleted:
            raise not_found(object_id)
        return self.deleted[object_id]

    def restore(self, object_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Restore by object id; the original UPN comes back unless another user took it meanwhile (then 400,
        unless the body gives `newUserPrincipalName`)."""
        record = self.deleted_item(object_id)
        if "userPrincipalName" in record:
            upn = str((body or {}).get("newUserPrincipalName") or record.get("_upn") or record["userPrincipalName"])
            if self._upn_taken(upn):
                raise _bad(MSG_UPN_EXISTS)
            del self.deleted[object_id]
            record.pop("_upn", None)
            record["userPrincipalName"] = upn
            record["deletedDateTime"] = None
            self.users[object_id] = record
            for gid in record.pop("_groups", []):
                if gid in self.groups and object_id not in self.groups[gid]["_members"]:
                    self.groups[gid]["_members"].append(object_id)
            record["_groups"] = []
        else:
            del self.deleted[object_id]
            record["deletedDateTime"] = None
            self.groups[object_id] = record
        return record

    def purge(self, object_id: str) -> None:
        self.deleted_item(object_id)
        del self.deleted[object_id]

    # --- groups --------------------------------------------------------------------------------------------------
    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        binds = {k: v for k, v in body.items() if k.endswith("@odata.bind")}
        clean = schema.check_writable(body, schema.GROUP_WRITABLE, "Group")
        schema.require(clean, ("displayName", "mailNickname"))
        if not isinstance(clean.get("mailEnabled"), bool) or not isinstance(clean.get("securityEnabled"), bool):
            raise _bad(MSG_INVALID_VALUES)
        schema.check_nickname(clean["mailNickname"], "Group")
        if len(clean["displayName"]) > 256:
            raise invalid_value("displayName", "Group")
        if clean["mailEnabled"] and "Unified" not in (clean.get("groupTypes") or []):
            raise _bad(MSG_MAIL_ENABLED)
        members = self._bound_ids(binds.get("members@odata.bind", []))
        self._bound_ids(binds.get("owners@odata.bind", []))
        record = schema.new_group_record(clean, self._next_seq(), self.primary_domain)
        record["_members"] = members
        self.groups[record["id"]] = record
        self._made(record["id"])
        return record

    def _bound_ids(self, urls: list[str]) -> list[str]:
        if len(urls) > 20:
            raise _bad("The request contains more than 20 references to add; add at most 20 per request.")
        ids = [str(url).rstrip("/").rsplit("/", 1)[-1] for url in urls]
        for object_id in ids:
            if object_id not in self.users and object_id not in self.groups:
                raise not_found(object_id)
        return ids

    def update_group(self, group_id: str, body: dict[str, Any]) -> None:
        record = self.group(group_id)
        binds = body.get("members@odata.bind", [])
        clean = schema.check_writable(body, schema.GROUP_WRITABLE - {"mailEnabled", "securityEnabled", "groupTypes"},
                                      "Group")
        if "mailNickname" in clean:
            schema.check_nickname(clean["mailNickname"], "Group")
        new_members = self._bound_ids(binds)
        if any(m in record["_members"] for m in new_members):
            raise _bad(MSG_MEMBER_EXISTS)
        record.update(clean)
        record["_members"].extend(new_members)

    def delete_group(self, group_id: str) -> None:
        record = self.group(group_id)
        del self.groups[group_id]
        if "Unified" in record["groupTypes"]:  # security groups are deleted permanently
            record["deletedDateTime"] = schema.now_iso()
            self.deleted[group_id] = record

    def members(self, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        record = self.group(group_id)
        out = []
        for member_id in record["_members"]:
            if member_id in self.users:
                out.append(("user", self.users[member_id]))
            elif member_id in self.groups:
                out.append(("group", self.groups[member_id]))
        return out

    def add_member(self, group_id: str, body: dict[str, Any]) -> None:
        record = self.group(group_id)
        reference = body.get("@odata.id")
        if not isinstance(reference, str) or not reference:
            raise _bad("Invalid request body: the '@odata.id' reference is missing.")
        member_id = reference.rstrip("/").rsplit("/", 1)[-1]
        if member_id not in self.users and member_id not in self.groups:
            raise not_found(member_id)
        self.check_replicated(member_id)
        if member_id in record["_members"]:
            raise _bad(MSG_MEMBER_EXISTS)
        record["_members"].append(member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        record = self.group(group_id)
        if member_id not in self.users and member_id not in self.groups:
            raise not_found(member_id)
        if member_id not in record["_members"]:
            raise _bad(MSG_MEMBER_MISSING)
        record["_members"].remove(member_id)

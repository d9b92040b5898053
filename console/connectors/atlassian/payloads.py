"""Pure SCIM payload builders and parsers for the Atlassian directory (no I/O).

The engine diffs flat, stable attribute names (`name.givenName`, `department`, ...); this module maps
them to SCIM resources, PatchOps and filters as plain dicts, and maps responses back. It imports no pydantic:
scim2-models costs about a second of CPU to import and more per validated request than the request itself, so
`reference.py` keeps the scim2-models equivalent of every body and reader, and the tests check that both agree.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from console.connectors.shape import describe, shape_errors
from console.connectors.value_limits import ValueLimits, on_domains, required
from console.errors import BadInput, ConfigError, Rejected
from console.models import RemoteAccount, RemoteGroup
from console.models import User as LocalUser

CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ATLASSIAN_URN = "urn:scim:schemas:extension:atlassian-external:1.0"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PAGE_SIZE = 100  # Atlassian returns at most 100 resources per page whatever `count` asks
MEMBERS_PER_PATCH = 100


# flat attribute name -> SCIM attribute path (what update_user turns into PatchOp paths)
ATTRIBUTE_PATHS: dict[str, str] = {
    "userName": "userName",
    "externalId": "externalId",
    "displayName": "displayName",
    "name.givenName": "name.givenName",
    "name.familyName": "name.familyName",
    "emails": "emails",
    "title": "title",
    "department": "department",  # top level, as the spec offers (its enterprise extension is readOnly)
    "active": "active",
}

# Atlassian silently ignores groups named like its default access groups and built-in groups (spec, Group
# limitations; support.atlassian.com "Default groups and permissions"): refuse them before sending.
DEFAULT_GROUPS = frozenset({
    "administrators", "site-admins", "org-admins", "system-administrators", "trusted-users",
    "jira-administrators", "jira-users", "jira-admins", "jira-software-users", "jira-core-users",
    "jira-servicedesk-users", "jira-servicemanagement-users", "jira-servicemanagement-customers",
    "jira-work-management-users", "jira-product-discovery-users", "confluence-users", "confluence-admins",
    "confluence-administrators", "bitbucket-users", "bitbucket-admins", "statuspage-users", "opsgenie-users",
    "compass-users", "atlassian-addons", "atlassian-addons-admin",
})
_PRODUCTS = ("jira|jira-software|jira-core|jira-servicedesk|jira-servicemanagement|jira-work-management|"
             "jira-product-discovery|confluence|bitbucket|statuspage|opsgenie|compass|trello|atlas|loom")
# a product's per-site default access group: confluence-users-acme, jira-software-users-acme.com, ...
_SITE_DEFAULT = re.compile(rf"^({_PRODUCTS})-(users|admins|administrators|user-access-admins)-[\w.-]+$")


def is_default_group(name: str) -> bool:
    lowered = name.strip().casefold()
    return lowered in DEFAULT_GROUPS or bool(_SITE_DEFAULT.match(lowered))


# ---- local person -> flat attributes -> SCIM payloads ------------------------------------------
# Bump whenever `account_attributes` would give other attributes for the same person (see Connector).
ATTRIBUTES_VERSION = "1"


def account_attributes(user: LocalUser, login_method: str = "sso") -> dict[str, Any]:
    """The directory attributes a person should have; every key always present so a cleared value diffs."""
    emails = [e.strip() for e in user.emails if e and e.strip()]
    display = user.displayName or " ".join(p for p in (user.givenName, user.familyName) if p)
    user_name = emails[0] if emails else user.userName
    return {
        "userName": user_name,
        "externalId": user.employeeId or user.id,
        "displayName": display or user_name,
        "name.givenName": user.givenName,
        "name.familyName": user.familyName,
        "emails": emails or ([user_name] if "@" in user_name else []),
        "title": user.title,
        "department": user.department,
        "active": user.active,
    }


SPEC = "Atlassian user-provisioning API"


def value_limits(verified_domains: Iterable[str] | str | None) -> ValueLimits:
    """What Atlassian refuses: a user without an e-mail (required on create and modify) or with one outside the
    organisation's verified domains (when the application lists them), and a user without a userName."""
    domains = [d for d in (verified_domains.split(",") if isinstance(verified_domains, str)
                           else verified_domains or []) if str(d).strip()]
    limits = [required("userName", SPEC), required("emails", SPEC + ": e-mail is required on create and modify")]
    if domains:
        limits.append(on_domains("emails", domains, SPEC + ": accounts are created only for verified domains"))
    return ValueLimits("Atlassian", tuple(limits))


def check_keys(attrs: Mapping[str, Any]) -> None:
    unknown = set(attrs) - set(ATTRIBUTE_PATHS)
    if unknown:
        raise BadInput(f"unknown Atlassian attribute(s): {', '.join(sorted(unknown))}",
                       hint=f"the directory takes: {', '.join(ATTRIBUTE_PATHS)}")


def user_payload(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The create body: exactly `reference.user_resource(attrs)` serialized for a creation request (tests pin this),
    built directly because validating a scim2-models User costs ~0.2 ms of CPU per person on every create."""
    check_keys(attrs)
    body: dict[str, Any] = {"schemas": [CORE_USER_URN]}
    if attrs.get("externalId"):
        body["externalId"] = attrs["externalId"]
    body["userName"] = attrs["userName"]
    name = {k: attrs[f"name.{k}"] for k in ("familyName", "givenName") if attrs.get(f"name.{k}")}
    if name:
        body["name"] = name
    for key in ("displayName", "title"):
        if attrs.get(key):
            body[key] = attrs[key]
    body["active"] = bool(attrs.get("active", True))
    if attrs.get("emails"):
        body["emails"] = [{"value": a, "type": "work", "primary": i == 0} for i, a in enumerate(attrs["emails"])]
    if attrs.get("department"):
        body["department"] = attrs["department"]
    return body


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _invalid(key: str, value: Any) -> str:
    """What is wrong with `value` for the attribute `key` ("" when nothing): text, e-mails a list of text."""
    if key == "active" or _empty(value):
        return ""
    if key == "emails":
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return ""
        return f"emails must be a list of addresses, not {describe(value)}"
    return "" if isinstance(value, str) else f"{key} must be text, not {describe(value)}"


def user_patch(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A PatchOp carrying only the changed attributes: replace a value, remove a cleared one. E-mails are never
    removed: Atlassian requires one on every modification (the plan blocks a person left without one). Exactly
    what scim2-models' PatchOp[User] serializes for the same operations (tests pin this)."""
    operations: list[dict[str, Any]] = []
    problems: list[str] = []
    for key, value in changes.items():
        if key not in ATTRIBUTE_PATHS:
            raise BadInput(f"unknown Atlassian attribute {key!r}",
                           hint=f"the directory takes: {', '.join(ATTRIBUTE_PATHS)}")
        path = ATTRIBUTE_PATHS[key]
        if key == "emails" and _empty(value):
            raise Rejected("Atlassian requires an e-mail: the person's last e-mail cannot be removed",
                           hint="give the person an e-mail on a verified domain, or end their entitlement")
        if key == "userName" and _empty(value):
            raise Rejected("Atlassian requires a userName: it cannot be removed",
                           hint="give the person a userName, then sync again")
        problem = _invalid(key, value)
        if problem:
            problems.append(problem)
        elif key == "active":
            operations.append({"op": "replace", "path": path, "value": bool(value)})
        elif _empty(value):
            operations.append({"op": "remove", "path": path})
        elif key == "emails":
            operations.append({"op": "replace", "path": path, "value": [
                {"value": address, "type": "work", "primary": i == 0} for i, address in enumerate(value)]})
        else:
            operations.append({"op": "replace", "path": path, "value": value})
    if problems or not operations:
        raise Rejected("a change is not valid for Atlassian", detail="; ".join(problems) or "no change to send",
                       hint="correct the person's or group's data, then sync again")
    return _patch(operations)


def _patch(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": operations}


def group_payload(name: str) -> dict[str, Any]:
    """The group create body: exactly scim2-models' Group(display_name=name) for a creation request."""
    return {"schemas": [GROUP_URN], "displayName": name}


def _member_ids(member_uids: list[str]) -> list[str]:
    wrong = [describe(uid) for uid in member_uids if not isinstance(uid, str) or not uid.isprintable() or not uid]
    if wrong:
        raise Rejected("a change is not valid for Atlassian", detail=f"member ids {', '.join(wrong)} are not ids",
                       hint="correct the person's or group's data, then sync again")
    return member_uids


def _chunks(items: list[str], size: int) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def add_members_patches(member_uids: list[str]) -> list[dict[str, Any]]:
    """PATCH bodies adding members (Atlassian's documented shape), as deltas, never a full list."""
    return [_patch([{"op": "add", "path": "members", "value": [{"value": uid} for uid in chunk]}])
            for chunk in _chunks(_member_ids(member_uids), MEMBERS_PER_PATCH)]


def remove_members_patches(member_uids: list[str]) -> list[dict[str, Any]]:
    """PATCH bodies removing members with RFC 7644 value filters (`members[value eq "id"]`)."""
    return [_patch([{"op": "remove", "path": f"members[value eq {quote(uid)}]"} for uid in chunk])
            for chunk in _chunks(_member_ids(member_uids), MEMBERS_PER_PATCH)]


def quote(value: str) -> str:
    """A SCIM filter string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def eq_filter(attribute: str, value: str) -> str:
    """The one filter shape Atlassian supports: a single exact `eq` on userName/externalId/displayName."""
    return f"{attribute} eq {quote(value)}"


# ---- responses -> domain types ----------------------------------------------------------------
# Responses are read as plain JSON, not through the strict scim2-models classes: Atlassian adds attributes
# RFC 7643 does not define (top-level organization/department/timezone, its atlassian-external extension),
# which the models would refuse, and a create answer is read on the hot path of every provisioning run.
def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def user_attributes(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The flat attributes of a directory user, with the same keys as `account_attributes`."""
    raw_name, raw_enterprise = doc.get("name"), doc.get(ENTERPRISE_URN)
    name: Mapping[str, Any] = raw_name if isinstance(raw_name, dict) else {}
    enterprise: Mapping[str, Any] = raw_enterprise if isinstance(raw_enterprise, dict) else {}
    raw_emails = doc.get("emails")
    emails = [e for e in (raw_emails if isinstance(raw_emails, list) else []) if isinstance(e, dict) and e.get("value")]
    emails.sort(key=lambda e: not e.get("primary"))
    return {
        "userName": _text(doc.get("userName")),
        "externalId": _text(doc.get("externalId")),
        "displayName": _text(doc.get("displayName")),
        "name.givenName": _text(name.get("givenName")),
        "name.familyName": _text(name.get("familyName")),
        "emails": [str(e["value"]) for e in emails],
        "title": _text(doc.get("title")),
        "department": _text(doc.get("department")) or _text(enterprise.get("department")),
        "active": doc.get("active") is not False,
    }


def atlassian_account_id(doc: Mapping[str, Any]) -> str:
    """The linked Atlassian account id (aaid, = Bitbucket account_id) when the directory reports it."""
    extension = doc.get(ATLASSIAN_URN)
    return _text(extension.get("atlassianAccountId")) if isinstance(extension, dict) else ""


def _resource_id(doc: Any, what: str) -> str:
    """The SCIM id of a resource the directory sent, or ConfigError naming what is wrong with it."""
    wrong = shape_errors(doc, {"id": str}, required=("id",))
    if wrong:
        raise ConfigError(f"the directory sent a {what} that is not a SCIM resource: {wrong}",
                          hint="the directory base URL ends with /scim/directory/{directoryId}")
    return str(doc["id"])


def to_account(doc: Mapping[str, Any]) -> RemoteAccount:
    _resource_id(doc, "user")
    attrs = user_attributes(doc)
    return RemoteAccount(uid=str(doc["id"]), name=attrs["userName"], attrs=attrs, active=attrs["active"])


def to_group(doc: Mapping[str, Any]) -> RemoteGroup:
    """A directory group; ConfigError naming what is wrong when the answer is not a SCIM Group (the same answers
    scim2-models' Group refuses; tests pin this)."""
    _resource_id(doc, "group")
    wrong = shape_errors(doc, {"displayName": str, "externalId": str, "members": list, "meta": dict, "schemas": list})
    members: list[str] = []
    for member in doc.get("members") or []:
        fault = shape_errors(member, {"value": str, "display": str, "$ref": str, "type": str})
        if fault:
            wrong = "; ".join(filter(None, [wrong, f"a member: {fault}"]))
            break
        if member.get("value"):
            members.append(member["value"])
    if wrong:
        raise ConfigError("the directory sent a group that is not a SCIM Group", detail=wrong)
    name, external = _text(doc.get("displayName")), _text(doc.get("externalId"))
    return RemoteGroup(uid=str(doc["id"]), name=name, members=members,
                       attrs={"displayName": name, "externalId": external})


def list_page(doc: Any) -> tuple[int, list[dict[str, Any]]]:
    """(totalResults, raw resources) of a ListResponse page; ConfigError when the answer is not one."""
    wrong = shape_errors(doc, {"totalResults": int, "startIndex": int, "itemsPerPage": int, "Resources": list},
                         required=("totalResults",))
    if wrong:
        raise ConfigError(f"the answer is not a SCIM list: {wrong}",
                          hint="the directory base URL ends with /scim/directory/{directoryId}")
    return int(doc["totalResults"]), [r for r in doc.get("Resources") or [] if isinstance(r, dict)]


def differences(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The desired values that the directory does not hold yet (userName and e-mails compare case-blind)."""
    changed = {}
    for key, value in desired.items():
        have = current.get(key)
        if key == "userName":
            same = str(value).casefold() == str(have or "").casefold()
        elif key == "emails":
            same = [v.casefold() for v in value or []] == [v.casefold() for v in have or []]
        else:
            same = (value if not _empty(value) else "") == (have if not _empty(have) else "")
        if not same:
            changed[key] = value
    return changed


def scim_error(doc: Any) -> str:
    """The target's own words from a SCIM Error (`detail`, `scimType`) or Atlassian's Failure (`error`)."""
    if not isinstance(doc, dict):
        return ""
    parts = [str(doc[k]) for k in ("detail", "error", "message") if doc.get(k)]
    if doc.get("scimType"):
        parts.append(f"scimType={doc['scimType']}")
    return "; ".join(parts)

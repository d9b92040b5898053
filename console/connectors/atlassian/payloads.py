"""Pure SCIM payload builders and parsers for the Atlassian directory (no I/O).

The engine diffs flat, stable attribute names (`name.givenName`, `department`, ...); this module maps
them to SCIM resources, PatchOps and filters with scim2-models, and maps responses back.

scim2-models (and pydantic) are imported on first use only (`_scim()`): the create path builds its body with
plain dicts and reads answers as JSON, so planning and creating never pay the ~1 s import; PatchOps, group
bodies and list pages still validate through the models.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING

from console.errors import BadInput, ConfigError, Rejected
from console.models import RemoteAccount, RemoteGroup
from console.models import User as LocalUser

CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ATLASSIAN_URN = "urn:scim:schemas:extension:atlassian-external:1.0"
PAGE_SIZE = 100  # Atlassian returns at most 100 resources per page whatever `count` asks
MEMBERS_PER_PATCH = 100


if TYPE_CHECKING:
    from scim2_models import EnterpriseUser, User

    ScimUser = User[EnterpriseUser]


@cache
def _scim() -> SimpleNamespace:
    """scim2-models and pydantic, imported once, when a model is first needed."""
    import pydantic
    import scim2_models as m

    scim_user = m.User[m.EnterpriseUser]
    return SimpleNamespace(m=m, pydantic=pydantic, ScimUser=scim_user)


def __getattr__(name: str) -> Any:
    if name == "ScimUser":
        return _scim().ScimUser
    raise AttributeError(name)

# flat attribute name -> SCIM attribute path (what update_user turns into PatchOp paths)
ATTRIBUTE_PATHS: dict[str, str] = {
    "userName": "userName",
    "externalId": "externalId",
    "displayName": "displayName",
    "name.givenName": "name.givenName",
    "name.familyName": "name.familyName",
    "emails": "emails",
    "title": "title",
    "department": f"{ENTERPRISE_URN}:department",
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


def _emails(addresses: Iterable[str]) -> list[Any]:
    email = _scim().m.Email
    return [email(value=a, type=email.Type.work, primary=(i == 0)) for i, a in enumerate(addresses)]


def _check_keys(attrs: Mapping[str, Any]) -> None:
    unknown = set(attrs) - set(ATTRIBUTE_PATHS)
    if unknown:
        raise BadInput(f"unknown Atlassian attribute(s): {', '.join(sorted(unknown))}",
                       hint=f"the directory takes: {', '.join(ATTRIBUTE_PATHS)}")


def user_resource(attrs: Mapping[str, Any]) -> ScimUser:
    """The scim2-models User for a create request (validated; the reference for `user_payload`)."""
    _check_keys(attrs)
    scim = _scim()
    model, name_model, enterprise = scim.ScimUser, scim.m.Name, scim.m.EnterpriseUser
    given, family = attrs.get("name.givenName") or None, attrs.get("name.familyName") or None
    user: ScimUser = model(
        user_name=attrs["userName"],
        external_id=attrs.get("externalId") or None,
        display_name=attrs.get("displayName") or None,
        name=name_model(given_name=given, family_name=family) if (given or family) else None,
        emails=_emails(attrs.get("emails") or []) or None,
        title=attrs.get("title") or None,
        active=bool(attrs.get("active", True)),
    )
    if attrs.get("department"):
        user[enterprise] = enterprise(department=attrs["department"])
    return user


def user_payload(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The create body: exactly `user_resource(attrs)` serialized for a creation request (a test pins this),
    built directly because validating a scim2-models User costs ~0.2 ms of CPU per person on every create."""
    _check_keys(attrs)
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
        body["schemas"].append(ENTERPRISE_URN)
        body[ENTERPRISE_URN] = {"department": attrs["department"]}
    return body


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def user_patch(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A PatchOp carrying only the changed attributes: replace a value, remove a cleared one."""
    operations: list[dict[str, Any]] = []
    for key, value in changes.items():
        if key not in ATTRIBUTE_PATHS:
            raise BadInput(f"unknown Atlassian attribute {key!r}",
                           hint=f"the directory takes: {', '.join(ATTRIBUTE_PATHS)}")
        path = ATTRIBUTE_PATHS[key]
        if key == "active":
            operations.append({"op": "replace", "path": path, "value": bool(value)})
        elif _empty(value):
            operations.append({"op": "remove", "path": path})
        elif key == "emails":
            operations.append({"op": "replace", "path": path, "value": [
                {"value": address, "type": "work", "primary": i == 0} for i, address in enumerate(value)]})
        else:
            operations.append({"op": "replace", "path": path, "value": value})
    return _patch(_scim().ScimUser, operations)


def _patch(resource: type[Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate the operations with scim2-models (paths, values, e-mail syntax) and serialize the PatchOp."""
    scim = _scim()
    try:
        patch = scim.m.PatchOp[resource].model_validate({"Operations": operations})
    except scim.pydantic.ValidationError as exc:
        raise Rejected("a change is not valid for Atlassian", detail="; ".join(e["msg"] for e in exc.errors()),
                       hint="correct the person's or group's data, then sync again") from None
    return patch.model_dump(scim_ctx=scim.m.Context.RESOURCE_PATCH_REQUEST)  # type: ignore[no-any-return]


def group_resource_payload(name: str) -> dict[str, Any]:
    """The scim2-models serialization of a group creation (the reference for `group_payload`; a test pins it)."""
    m = _scim().m
    return m.Group(display_name=name).model_dump(scim_ctx=m.Context.RESOURCE_CREATION_REQUEST)  # type: ignore[no-any-return]


def group_payload(name: str) -> dict[str, Any]:
    """The group creation body, built directly (exactly `group_resource_payload`): no model import on a sync."""
    return {"schemas": [CORE_GROUP_URN], "displayName": name}


def _chunks(items: list[str], size: int) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def _member_operations(action: str, chunk: list[str]) -> list[dict[str, Any]]:
    if action == "add":
        return [{"op": "add", "path": "members", "value": [{"value": uid} for uid in chunk]}]
    return [{"op": "remove", "path": f"members[value eq {quote(uid)}]"} for uid in chunk]


def member_patches(action: str, member_uids: list[str], *, validate: bool = False) -> list[dict[str, Any]]:
    """PATCH bodies adding or removing members, as deltas (never a full list), MEMBERS_PER_PATCH per body. Built
    directly; `validate=True` builds them through scim2-models instead (a test pins that both agree)."""
    chunks = _chunks(member_uids, MEMBERS_PER_PATCH)
    if validate:
        return [_patch(_scim().m.Group, _member_operations(action, chunk)) for chunk in chunks]
    return [{"schemas": [PATCH_OP_URN], "Operations": _member_operations(action, chunk)} for chunk in chunks]


def add_members_patches(member_uids: list[str]) -> list[dict[str, Any]]:
    """PATCH bodies adding members (Atlassian's documented shape), as deltas, never a full list."""
    return member_patches("add", member_uids)


def remove_members_patches(member_uids: list[str]) -> list[dict[str, Any]]:
    """PATCH bodies removing members with RFC 7644 value filters (`members[value eq "id"]`)."""
    return member_patches("remove", member_uids)


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
    emails = [e for e in doc.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    emails.sort(key=lambda e: not e.get("primary"))
    return {
        "userName": _text(doc.get("userName")),
        "externalId": _text(doc.get("externalId")),
        "displayName": _text(doc.get("displayName")),
        "name.givenName": _text(name.get("givenName")),
        "name.familyName": _text(name.get("familyName")),
        "emails": [str(e["value"]) for e in emails],
        "title": _text(doc.get("title")),
        "department": _text(enterprise.get("department")) or _text(doc.get("department")),
        "active": doc.get("active") is not False,
    }


def atlassian_account_id(doc: Mapping[str, Any]) -> str:
    """The linked Atlassian account id (aaid, = Bitbucket account_id) when the directory reports it."""
    extension = doc.get(ATLASSIAN_URN)
    return _text(extension.get("atlassianAccountId")) if isinstance(extension, dict) else ""


def to_account(doc: Mapping[str, Any]) -> RemoteAccount:
    attrs = user_attributes(doc)
    return RemoteAccount(uid=str(doc["id"]), name=attrs["userName"], attrs=attrs, active=attrs["active"])


def to_group(doc: Mapping[str, Any]) -> RemoteGroup:
    """A directory group read as plain JSON, like users (members without a string value are skipped)."""
    members = [str(m["value"]) for m in doc.get("members") or [] if isinstance(m, dict) and m.get("value")]
    name = _text(doc.get("displayName"))
    return RemoteGroup(uid=str(doc["id"]), name=name, members=members,
                       attrs={"displayName": name, "externalId": _text(doc.get("externalId"))})


def list_page(doc: Any) -> tuple[int, list[dict[str, Any]]]:
    """(totalResults, raw resources) of a ListResponse page; ConfigError when the answer is not one."""
    try:
        scim = _scim()
        page = scim.m.ListResponse[scim.ScimUser].model_validate({k: v for k, v in doc.items() if k != "Resources"})
        resources = doc.get("Resources") or []
        if page.total_results is None or not isinstance(resources, list):
            raise ValueError("no totalResults/Resources")
    except (AttributeError, ValueError) as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError("the answer is not a SCIM list: is the base URL a SCIM directory?",
                          detail=str(exc)[:200],
                          hint="the directory base URL ends with /scim/directory/{directoryId}") from None
    return int(page.total_results), [r for r in resources if isinstance(r, dict)]


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

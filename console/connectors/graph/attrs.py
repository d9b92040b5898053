"""Pure mapping between a local person and an Entra ID user: flat attribute dicts, msgraph `User` bodies,
naming rules (ASCII userPrincipalName and mailNickname) and the initial password. No I/O here.
"""
from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from console.connectors.value_limits import ValueLimits, max_length, required
from console.models import RemoteAccount, User
from console.text import ascii_fold
from console.text import generate_password as generate_password  # re-exported

if TYPE_CHECKING:  # msgraph's models are imported by the functions that build them: a plan computes only dicts
    from msgraph.generated.models.user import User as GraphUser

# Flat attribute key (what the engine diffs) -> msgraph `User` field.
ATTRIBUTE_FIELDS = {
    "userPrincipalName": "user_principal_name", "displayName": "display_name", "givenName": "given_name",
    "surname": "surname", "mailNickname": "mail_nickname", "mail": "mail", "department": "department",
    "jobTitle": "job_title", "employeeId": "employee_id", "usageLocation": "usage_location",
    "accountEnabled": "account_enabled",
}
USER_SELECT = [*ATTRIBUTE_FIELDS, "id", "assignedLicenses", "createdDateTime"]

_UPN_UNSAFE = re.compile(r"[^A-Za-z0-9'.\-_!#^~]")
_NICK_UNSAFE_USER = re.compile(r"[^A-Za-z0-9'.\-_!#^~$%&*+/=?`{|}]")
_NICK_UNSAFE_GROUP = re.compile(r"[^A-Za-z0-9\-_]")


def upn_local_part(text: str) -> str:
    local = _UPN_UNSAFE.sub("", ascii_fold(text.split("@", 1)[0]).replace(" ", "."))
    local = re.sub(r"\.{2,}", ".", local).strip(".")
    return local[:64].rstrip(".")


def mail_nickname(text: str) -> str:
    return _NICK_UNSAFE_USER.sub("", ascii_fold(text).replace(" ", "."))[:64] or "user"


def group_mail_nickname(name: str) -> str:
    """A group's mailNickname: ASCII without `@ () \\ [] " ; : . <> ,` or spaces, at most 64 characters."""
    nickname = _NICK_UNSAFE_GROUP.sub("", ascii_fold(name).replace(" ", "-").replace(".", "-"))
    nickname = re.sub(r"-{2,}", "-", nickname).strip("-")[:64]
    return nickname or "group-" + secrets.token_hex(4)


def user_principal_name(user: User, upn_suffix: str) -> str:
    source = user.userName or user.email or user.employeeId
    domain = upn_suffix.lstrip("@").strip().lower()
    if not domain:
        candidates = [v for v in (user.userName, user.email) if "@" in (v or "")]
        domain = candidates[0].split("@", 1)[1].lower() if candidates else ""
    # a name with no Latin letters (ольга, 李小龙) falls back to the key, made UPN-safe (no ':' from an account id)
    local = upn_local_part(source) or upn_local_part(f"{user.givenName}.{user.familyName}") or \
        upn_local_part(user.employeeId) or "user"
    return f"{local}@{domain}" if domain else local


# Property limits of Microsoft Graph's user resource (learn.microsoft.com/graph/api/resources/user: "Maximum
# length is …"); a longer value answers 400 "Invalid value specified for property …".
PROPERTY_LIMITS = {"displayName": 256, "givenName": 64, "surname": 64, "jobTitle": 128, "department": 64,
                   "mailNickname": 64, "employeeId": 16, "userPrincipalName": 113, "usageLocation": 2}
VALUE_LIMITS = ValueLimits("Microsoft Graph", (
    required("userPrincipalName", "Graph"), required("displayName", "Graph"), required("mailNickname", "Graph"),
    *(max_length(name, limit, "Graph user property limit") for name, limit in PROPERTY_LIMITS.items()),
))


# Bump whenever `account_attributes` would give other attributes for the same person and settings (see Connector).
ATTRIBUTES_VERSION = "1"


def account_attributes(user: User, login_method: str, *, upn_suffix: str = "", usage_location: str = "",
                       license_skus: list[str] | None = None) -> dict[str, Any]:
    """The Entra ID attributes a person should have. `mail` only when the e-mail is in the UPN's domain (a
    tenant domain); Exchange Online sets it anyway once a mailbox licence is assigned. `licenses` (configured
    SKUs, none for a leaver) lets a changed licence configuration reach existing accounts as an update."""
    upn = user_principal_name(user, upn_suffix)
    display = user.displayName or f"{user.givenName} {user.familyName}".strip() or user.userName
    attrs: dict[str, Any] = {
        "userPrincipalName": upn,
        "displayName": display,
        "givenName": user.givenName,
        "surname": user.familyName,
        "mailNickname": mail_nickname(upn.split("@", 1)[0]),
        "department": user.department,
        "jobTitle": user.title,
        "employeeId": user.target_employee_id(),
        "accountEnabled": user.active,
    }
    if user.email and "@" in upn and user.email.lower().endswith("@" + upn.split("@", 1)[1]):
        attrs["mail"] = user.email
    if usage_location:
        attrs["usageLocation"] = usage_location.upper()
    if license_skus:
        attrs["licenses"] = sorted(license_skus) if user.active else []
    return attrs


def graph_user(attrs: dict[str, Any], *, creating: bool, password: str | None = None) -> GraphUser:
    """A msgraph `User` body. On update an empty value clears the property (sent as JSON null)."""
    from msgraph.generated.models.password_profile import PasswordProfile  # noqa: PLC0415 - not on a plan's path
    from msgraph.generated.models.user import User as GraphUser  # noqa: PLC0415

    body = GraphUser()
    cleared: dict[str, Any] = {}
    for key, value in attrs.items():
        field = ATTRIBUTE_FIELDS.get(key)
        if field is None:
            continue
        if value in ("", None):
            if not creating and key not in ("userPrincipalName", "displayName", "mailNickname", "accountEnabled"):
                cleared[key] = None
            continue
        setattr(body, field, value)
    if cleared:
        body.additional_data = cleared
    if password is not None:
        body.password_profile = PasswordProfile(password=password, force_change_password_next_sign_in=True)
    return body


def remote_account(user: GraphUser, extra: dict[str, Any] | None = None) -> RemoteAccount:
    attrs = {key: getattr(user, field) for key, field in ATTRIBUTE_FIELDS.items() if getattr(user, field) is not None}
    attrs["licenses"] = sorted(str(lic.sku_id) for lic in (user.assigned_licenses or []) if lic.sku_id)
    attrs.update(extra or {})
    return RemoteAccount(uid=str(user.id), name=str(user.user_principal_name or user.id), attrs=attrs,
                         active=bool(user.account_enabled) if user.account_enabled is not None else True)


def remote_account_from_json(doc: dict[str, Any]) -> RemoteAccount:
    """The same as `remote_account` for a plain Graph JSON user (bulk listings skip the SDK models)."""
    attrs = {key: doc[key] for key in ATTRIBUTE_FIELDS if doc.get(key) is not None}
    attrs["licenses"] = sorted(str(lic.get("skuId")) for lic in doc.get("assignedLicenses") or [] if lic.get("skuId"))
    enabled = doc.get("accountEnabled")
    return RemoteAccount(uid=str(doc["id"]), name=str(doc.get("userPrincipalName") or doc["id"]), attrs=attrs,
                         active=bool(enabled) if enabled is not None else True)


def differences(desired: dict[str, Any], current: GraphUser) -> dict[str, Any]:
    """The desired attributes that the remote user does not hold yet (for adoption)."""
    changed = {}
    for key, value in desired.items():
        field = ATTRIBUTE_FIELDS.get(key)
        if field is None:
            continue
        have = getattr(current, field)
        if isinstance(value, bool) or isinstance(have, bool):
            same = have == value
        elif key in ("userPrincipalName", "mail"):
            same = (have or "").lower() == (value or "").lower()
        else:
            same = (have or "") == (value or "")
        if not same:
            changed[key] = value
    return changed

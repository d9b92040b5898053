"""What the Graph sandbox knows about resource shapes: properties, defaults, validation rules, licence SKUs."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from console.sandbox.graph_errors import MSG_INVALID_VALUES, MSG_PASSWORD, MSG_UPN_DOMAIN, GraphFault, invalid_value

# Properties a client may write on a user (POST/PATCH); anything else is refused like Graph does.
USER_WRITABLE = {
    "accountEnabled", "displayName", "givenName", "surname", "mailNickname", "userPrincipalName", "usageLocation",
    "department", "jobTitle", "employeeId", "employeeType", "companyName", "officeLocation", "mobilePhone",
    "businessPhones", "preferredLanguage", "mail", "otherMails", "city", "country", "state", "streetAddress",
    "postalCode", "onPremisesImmutableId", "passwordProfile", "passwordPolicies",
}
USER_READ_ONLY = {"id", "createdDateTime", "deletedDateTime", "assignedLicenses", "assignedPlans", "proxyAddresses",
                  "signInSessionsValidFromDateTime"}
USER_PROPERTIES = USER_WRITABLE | USER_READ_ONLY
USER_DEFAULT_SELECT = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                       "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"]
USER_FILTERABLE = {"id", "userPrincipalName", "mail", "displayName", "employeeId", "givenName", "surname",
                   "mailNickname", "accountEnabled", "usageLocation", "department", "jobTitle", "employeeType",
                   "companyName", "onPremisesImmutableId", "city", "country"}

GROUP_WRITABLE = {"displayName", "description", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes",
                  "visibility", "isAssignableToRole"}
GROUP_READ_ONLY = {"id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses", "renewedDateTime",
                   "securityIdentifier"}
GROUP_PROPERTIES = GROUP_WRITABLE | GROUP_READ_ONLY
GROUP_DEFAULT_SELECT = sorted(GROUP_PROPERTIES - {"isAssignableToRole"})
GROUP_FILTERABLE = {"id", "displayName", "mailNickname", "mail", "mailEnabled", "securityEnabled", "description"}

EXCHANGE_PLANS = {"EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_STANDARD", "EXCHANGE_S_DESKLESS"}

# Public SKU and service-plan ids of common Microsoft 365 products (Microsoft's licensing reference).
DEFAULT_SKUS: list[dict[str, Any]] = [
    {"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "skuPartNumber": "ENTERPRISEPACK", "enabled": 25,
     "plans": [("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE"),
               ("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE")]},
    {"skuId": "4b9405b0-7788-4568-add1-99614e613b69", "skuPartNumber": "EXCHANGESTANDARD", "enabled": 50,
     "plans": [("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD")]},
    {"skuId": "f30db892-07e9-47e9-837c-80727f46fd3d", "skuPartNumber": "FLOW_FREE", "enabled": 10000,
     "plans": [("50e68c76-46c6-4674-81f9-75456511b170", "FLOW_P2_VIRAL")]},
]

_UPN_LOCAL = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+$")
_NICKNAME_FORBIDDEN_USER = set('@()\\[]";:<>, ')
_NICKNAME_FORBIDDEN_GROUP = _NICKNAME_FORBIDDEN_USER | {"."}
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_writable(body: dict[str, Any], writable: set[str], resource: str) -> dict[str, Any]:
    """Drop OData annotations, refuse properties that are unknown or read-only."""
    clean: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata.") or key.endswith("@odata.bind"):
            continue
        if key not in writable:
            raise GraphFault(400, "Request_BadRequest", f"Property '{key}' is read-only or does not exist on type "
                             f"'microsoft.graph.{resource[0].lower() + resource[1:]}'.")
        clean[key] = value
    return clean


def require(body: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if body.get(name) is None or body.get(name) == "":
            raise GraphFault(400, "Request_BadRequest", MSG_INVALID_VALUES)


def check_upn(upn: Any, domains: set[str]) -> None:
    if not isinstance(upn, str) or upn.count("@") != 1:
        raise invalid_value("userPrincipalName")
    local, domain = upn.split("@")
    if not local or len(local) > 64 or not _UPN_LOCAL.match(local) or local.startswith(".") or local.endswith("."):
        raise invalid_value("userPrincipalName")
    if domain.lower() not in domains:
        raise GraphFault(400, "Request_BadRequest", MSG_UPN_DOMAIN)


def check_nickname(nickname: Any, resource: str) -> None:
    forbidden = _NICKNAME_FORBIDDEN_GROUP if resource == "Group" else _NICKNAME_FORBIDDEN_USER
    if (not isinstance(nickname, str) or not nickname or len(nickname) > 64
            or any(ord(ch) > 127 or ch in forbidden for ch in nickname)):
        raise invalid_value("mailNickname", resource)


def check_usage_location(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not _COUNTRY.match(value)):
        raise invalid_value("usageLocation")


def check_password(password: Any, nickname: str = "") -> None:
    """Entra ID's rule: 8–256 characters, three of four classes, not containing the account name."""
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        raise GraphFault(400, "Request_BadRequest", MSG_PASSWORD)
    classes = [any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    if sum(classes) < 3 or (len(nickname) >= 3 and nickname.lower() in password.lower()):
        raise GraphFault(400, "Request_BadRequest", MSG_PASSWORD)


def new_user_record(body: dict[str, Any], seq: int) -> dict[str, Any]:
    created = body.get("createdDateTime") or now_iso()
    record: dict[str, Any] = {
        "id": body.get("id") or str(uuid.uuid4()), "accountEnabled": True, "displayName": None, "givenName": None,
        "surname": None, "mailNickname": None, "userPrincipalName": None, "mail": None, "usageLocation": None,
        "department": None, "jobTitle": None, "employeeId": None, "employeeType": None, "companyName": None,
        "officeLocation": None, "mobilePhone": None, "businessPhones": [], "preferredLanguage": None,
        "otherMails": [], "city": None, "country": None, "state": None, "streetAddress": None, "postalCode": None,
        "onPremisesImmutableId": None, "passwordProfile": None, "passwordPolicies": None,
        "assignedLicenses": [], "assignedPlans": [], "proxyAddresses": [], "createdDateTime": created,
        "deletedDateTime": None, "signInSessionsValidFromDateTime": created,
        "_seq": seq, "_password": None, "_groups": [],
    }
    for key, value in body.items():
        if key in USER_PROPERTIES and key != "passwordProfile":
            record[key] = value
    profile = body.get("passwordProfile") or {}
    record["_password"] = profile.get("password")
    if record["mail"] and not record["proxyAddresses"]:
        record["proxyAddresses"] = [f"SMTP:{record['mail']}"]
    return record


def new_group_record(body: dict[str, Any], seq: int, mail_domain: str) -> dict[str, Any]:
    created = now_iso()
    unified = "Unified" in (body.get("groupTypes") or [])
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()), "displayName": None, "description": None, "mailEnabled": False,
        "mailNickname": None, "securityEnabled": True, "groupTypes": [], "visibility": None,
        "createdDateTime": created, "deletedDateTime": None, "mail": None, "proxyAddresses": [],
        "renewedDateTime": created, "securityIdentifier": "S-1-12-1-" + "-".join(str(uuid.uuid4().int % 4294967295)
                                                                                 for _ in range(4)),
        "_seq": seq, "_members": [],
    }
    record.update({k: v for k, v in body.items() if k in GROUP_WRITABLE and k != "isAssignableToRole"})
    if unified:
        record["mail"] = f"{record['mailNickname']}@{mail_domain}"
        record["proxyAddresses"] = [f"SMTP:{record['mail']}"]
        record["visibility"] = record["visibility"] or "Public"
    return record


def sku_document(sku: dict[str, Any], tenant_id: str, consumed: int) -> dict[str, Any]:
    return {
        "accountId": tenant_id, "accountName": "Contoso", "appliesTo": "User", "capabilityStatus": "Enabled",
        "consumedUnits": consumed, "id": f"{tenant_id}_{sku['skuId']}", "skuId": sku["skuId"],
        "skuPartNumber": sku["skuPartNumber"], "subscriptionIds": [str(uuid.uuid5(uuid.NAMESPACE_URL, sku["skuId"]))],
        "prepaidUnits": {"enabled": sku["enabled"], "lockedOut": 0, "suspended": 0, "warning": 0},
        "servicePlans": [{"servicePlanId": pid, "servicePlanName": name, "provisioningStatus": "Success",
                          "appliesTo": "User"} for pid, name in sku["plans"]],
    }


def project(record: dict[str, Any], select: list[str] | None, default: list[str],
            odata_type: str | None = None) -> dict[str, Any]:
    """The JSON of one object: the selected (or default) properties, never the sandbox's private `_` keys."""
    names = select if select is not None else default
    out: dict[str, Any] = {}
    if odata_type:
        out["@odata.type"] = f"#microsoft.graph.{odata_type}"
    for name in names:
        out[name] = record.get(name)
    return out

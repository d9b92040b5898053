"""Per-target attribute limits: what each connector's target refuses, declared next to the connector.

A connector exposes `limits()` (attribute → `Limit`) and `check_attributes(attrs) -> list[str]`; the plan and the
mapping preview call them, so a value the target would refuse (a 50-character id in AD's 16-character
employeeID) is shown before anything is written. Pure: no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Unicode's control characters (category Cc) are exactly these 65 code points; one search at C speed instead of
# a category look-up per character of every value the plan checks (tests/test_target_limits.py pins the set).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Limit:
    """One attribute's rule in one target: at most `max_length` characters (each value of a list), `required`
    (not empty), `address` (name@domain.tld); `source` says where the rule comes from (e.g. AD rangeUpper)."""

    max_length: int | None = None
    required: bool = False
    address: bool = False
    source: str = ""


def problems(target: str, limits: Mapping[str, Limit], attrs: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(attribute, value, rule) for every rule of `limits` that `attrs` break; the rule names the target."""
    found: list[tuple[str, str, str]] = []
    for name, limit in limits.items():
        if name not in attrs:
            continue
        value = attrs[name]
        values = [str(v) for v in value] if isinstance(value, (list, tuple)) else \
            ([] if value in (None, "") or isinstance(value, bool) else [str(value)])
        if limit.required and not values:
            found.append((name, "", f"is required; {target} refuses an empty one"))
            continue
        for text in values:
            rule = _rule(text, limit)
            if rule:
                found.append((name, text, f"{rule}; {target} allows {_allowed(limit)}"
                                          f"{f' ({limit.source})' if limit.source else ''}"))
                break
    return found


def check_attributes(target: str, limits: Mapping[str, Limit], attrs: Mapping[str, Any]) -> list[str]:
    """Every rule of `limits` that `attrs` break, as "attribute = 'value' rule" lines naming the target."""
    return [f"{name} = {(value if len(value) <= 40 else value[:37] + '…')!r} {rule}" if value else f"{name} {rule}"
            for name, value, rule in problems(target, limits, attrs)]


def _rule(text: str, limit: Limit) -> str:
    if CONTROL.search(text):
        return "contains control characters"
    if limit.max_length is not None and len(text) > limit.max_length:
        return f"is {len(text)} characters"
    if limit.address and not _ADDRESS.match(text):
        return "is not of the form name@domain.tld"
    return ""


def _allowed(limit: Limit) -> str:
    if limit.max_length is not None:
        return f"at most {limit.max_length}"
    return "name@domain.tld" if limit.address else "no control characters"


# Active Directory: the rangeUpper of each attribute in the AD schema (Samba ships the same schema);
# sAMAccountName is held to 20 by the SAM (pre-Windows 2000 logon name), not by its rangeUpper of 256.
AD_LIMITS: dict[str, Limit] = {
    "employeeID": Limit(16, source="AD schema rangeUpper"),
    "sAMAccountName": Limit(20, required=True, source="SAM logon name"),
    "userPrincipalName": Limit(1024, required=True, address=True, source="AD schema rangeUpper"),
    "cn": Limit(64, required=True, source="AD schema rangeUpper"),
    "displayName": Limit(256, source="AD schema rangeUpper"),
    "givenName": Limit(64, source="AD schema rangeUpper"),
    "sn": Limit(64, source="AD schema rangeUpper"),
    "mail": Limit(256, address=True, source="AD schema rangeUpper"),
    "proxyAddresses": Limit(1123, source="AD schema rangeUpper"),
    "department": Limit(64, source="AD schema rangeUpper"),
    "title": Limit(128, source="AD schema rangeUpper"),
    "company": Limit(64, source="AD schema rangeUpper"),
}

# Microsoft Graph `user` properties (learn.microsoft.com user resource type: "Maximum length is …").
GRAPH_LIMITS: dict[str, Limit] = {
    "employeeId": Limit(16, source="Graph user.employeeId"),
    "userPrincipalName": Limit(113, required=True, address=True, source="Graph user.userPrincipalName"),
    "displayName": Limit(256, required=True, source="Graph user.displayName"),
    "givenName": Limit(64, source="Graph user.givenName"),
    "surname": Limit(64, source="Graph user.surname"),
    "mailNickname": Limit(64, required=True, source="Graph user.mailNickname"),
    "jobTitle": Limit(128, source="Graph user.jobTitle"),
    "department": Limit(64, source="Graph user.department"),
    "mail": Limit(254, address=True, source="Graph user.mail"),
}

# Atlassian user provisioning (SCIM): userName and a primary e-mail are required (on a verified domain).
ATLASSIAN_LIMITS: dict[str, Limit] = {
    "userName": Limit(required=True, source="Atlassian SCIM userName"),
    "emails": Limit(required=True, address=True, source="Atlassian SCIM emails"),
}

"""Field rules for people, groups, applications and policies; errors name field, value and rule."""
from __future__ import annotations

import re

from console.errors import BadInput, ValidationError
from console.models import DEPROVISION_MODES, LOGIN_METHODS, USER_STATUSES, Group, Policy, User
from console.shown import has_controls, visible

# RFC 5322 "dot-atom" local part (no leading, trailing or double dot), a domain with at least one dot;
# internationalised letters allowed.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
EMAIL_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:[^\W_](?:[\w-]{{0,61}}[^\W_])?\.)+[^\W\d_]{{2,63}}$")
USER_NAME_RE = re.compile(r"^[\w.@+'-]+$")
KEY_RE = re.compile(r"^[\w.@:/+-]+$")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]*$")
LIMITS = {
    "employeeId": 64,
    "userName": 104,  # the UPN limit in AD and Entra ID
    "givenName": 64,
    "familyName": 64,
    "displayName": 256,
    "email": 254,
    "department": 64,
    "title": 128,
}


def clean(value: object) -> str:
    """Trim surrounding white space; everything else (case, accents, scripts) is kept exactly."""
    return "" if value is None else str(value).strip()


def check_length(field: str, value: str) -> None:
    limit = LIMITS.get(field)
    if limit and len(value) > limit:
        raise ValidationError(field, value if len(value) < 40 else value[:37] + "…", f"is longer than {limit} characters")


def check_email(value: str, field: str = "email") -> None:
    check_length(field, value)
    if not EMAIL_RE.match(value) or ".." in value:
        raise ValidationError(field, value, "is not a valid e-mail address", hint="use the form name@example.com")


def check_utf8(what: str, value: str) -> str:
    """`value` when it is text: bytes that are not UTF-8 (a terminal or a script in another encoding; Python keeps them
    in the arguments as lone surrogates) are refused with what to do, not met later as an unexpected error."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise BadInput(f"{what} '{shown}' is not UTF-8 text",
                       hint="type it in a UTF-8 terminal (e.g. LANG=C.UTF-8) or convert the script to UTF-8") from None
    return value


def check_text(field: str, value: str) -> None:
    """Text an operator typed (a name, a description, a person's field) may hold no control character, no bidi
    override and no line break: it would be interpreted, not shown, wherever it is printed."""
    check_utf8(field, value)
    if has_controls(value):
        raise ValidationError(field, visible(value), "contains control or bidi characters",
                              hint="retype it without them (they are shown here as ␛, <U+202E>, …)")


def validate_user(user: User, primary_key: str = "employeeId", *, from_source: bool = False) -> User:
    """Normalise white space and check every field; raises ValidationError on the first fault.

    `from_source`: the person comes from a source application, whose data is kept as it is (only C0 controls
    are refused) and shown neutralised; what operators type or import from files is refused."""
    for name in ("employeeId", "userName", "givenName", "familyName", "displayName", "department", "title", "manager"):
        setattr(user, name, clean(getattr(user, name)))
    user.emails = [clean(e) for e in user.emails if clean(e)]
    if not user.employeeId and primary_key == "employeeId":
        raise ValidationError("employeeId", "", "is required", hint="every person needs a primary key")
    if not user.userName:
        raise ValidationError("userName", "", "is required")
    for name in ("employeeId", "userName", "givenName", "familyName", "displayName", "department", "title"):
        value = getattr(user, name)
        check_length(name, value)
        if not NAME_RE.match(value):
            raise ValidationError(name, visible(value), "contains control characters")
        if not from_source:
            check_text(name, value)
    if user.employeeId and not KEY_RE.match(user.employeeId):
        raise ValidationError("employeeId", user.employeeId, "may only hold letters, digits and . @ : / + - _")
    if not USER_NAME_RE.match(user.userName):
        raise ValidationError("userName", user.userName, "may only hold letters, digits and . @ + ' - _ (no spaces)")
    for email in user.emails:
        check_email(email)
    if len(set(e.casefold() for e in user.emails)) != len(user.emails):
        raise ValidationError("email", ", ".join(user.emails), "lists the same address twice")
    if user.status not in USER_STATUSES:
        raise ValidationError("status", user.status, f"must be one of {', '.join(USER_STATUSES)}")
    if not user.displayName:
        user.displayName = " ".join(p for p in (user.givenName, user.familyName) if p) or user.userName
    return user


def validate_group(group: Group) -> Group:
    group.name = clean(group.name)
    if not group.name:
        raise ValidationError("name", "", "is required")
    if len(group.name) > 256:
        raise ValidationError("name", group.name[:37] + "…", "is longer than 256 characters")
    check_text("name", group.name)
    group.description = clean(group.description)
    if len(group.description) > 1024:
        raise ValidationError("description", group.description[:37] + "…", "is longer than 1024 characters")
    check_text("description", group.description)
    return group


def validate_policy(policy: Policy) -> Policy:
    policy.name = clean(policy.name)
    if not policy.name:
        raise ValidationError("name", "", "is required")
    if len(policy.name) > 256:
        raise ValidationError("name", policy.name[:37] + "…", "is longer than 256 characters")
    check_text("name", policy.name)
    if policy.login_method not in LOGIN_METHODS:
        raise ValidationError("login_method", policy.login_method, f"must be one of {', '.join(LOGIN_METHODS)}")
    if not policy.groups:
        raise ValidationError("groups", "", "needs at least one group")
    return policy


def check_deprovision(mode: str) -> None:
    if mode not in DEPROVISION_MODES:
        raise ValidationError("deprovision", mode, f"must be one of {', '.join(DEPROVISION_MODES)}")

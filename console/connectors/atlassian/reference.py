"""The scim2-models reference for what `payloads` builds as plain dicts (imported by the tests, never on a sync).

`payloads` writes Atlassian's request bodies and reads its answers without pydantic: importing scim2-models costs
about a second of CPU in every process, and validating a model per request costs more per account than the
request itself. The tests check that every plain body is exactly what these models serialize (and validate
against them), and that what the models refuse the plain readers refuse too.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim2_models import Context, Email, EnterpriseUser, Group, ListResponse, Name, PatchOp, User

from .payloads import check_keys


class ScimUser(User[EnterpriseUser]):
    """Atlassian's user: the spec's ScimUser has `department` and `organization` at the top level, and marks the
    enterprise extension readOnly, so department is written there."""

    department: str | None = None
    organization: str | None = None


def user_resource(attrs: Mapping[str, Any]) -> ScimUser:
    """The scim2-models User for a create request (validated; the reference for `payloads.user_payload`)."""
    check_keys(attrs)
    given, family = attrs.get("name.givenName") or None, attrs.get("name.familyName") or None
    emails = [Email(value=a, type=Email.Type.work, primary=(i == 0)) for i, a in enumerate(attrs.get("emails") or [])]
    user = ScimUser(
        user_name=attrs["userName"],
        external_id=attrs.get("externalId") or None,
        display_name=attrs.get("displayName") or None,
        name=Name(given_name=given, family_name=family) if (given or family) else None,
        emails=emails or None,
        title=attrs.get("title") or None,
        active=bool(attrs.get("active", True)),
    )
    if attrs.get("department"):
        user.department = attrs["department"]
    return user


def user_body(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return user_resource(attrs).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)


def patch_body(resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A PatchOp body validated by scim2-models for a User or a Group and serialized again."""
    kind: Any = ScimUser if resource == "User" else Group
    patch = PatchOp[kind].model_validate(dict(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    return patch.model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)


def group_body(name: str) -> dict[str, Any]:
    return Group(display_name=name).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)


GROUP_KEYS = frozenset(info.serialization_alias or name for name, info in Group.model_fields.items())


def group(doc: Mapping[str, Any]) -> tuple[str, list[str], str]:
    """(displayName, member ids, externalId) of a group answer as scim2-models reads it; ValueError if it refuses."""
    parsed = Group.model_validate({k: v for k, v in doc.items() if k in GROUP_KEYS})
    return (parsed.display_name or "", [m.value for m in parsed.members or [] if m.value],
            parsed.external_id or "")


def list_total(doc: Mapping[str, Any]) -> int | None:
    """totalResults of a ListResponse page as scim2-models reads it; ValueError if it refuses."""
    return ListResponse[ScimUser].model_validate({k: v for k, v in doc.items() if k != "Resources"}).total_results

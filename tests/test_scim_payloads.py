"""The pure half of the Atlassian connector: attributes, payloads, PatchOps, filters, default groups."""
from __future__ import annotations

import pytest

from console.connectors.atlassian import SETTINGS, AtlassianConnector
from console.connectors.atlassian import payloads as p
from console.errors import BadInput, ConfigError
from console.models import Application, User


def person(**kw: object) -> User:
    values: dict[str, object] = {"employeeId": "E100", "userName": "zoe", "givenName": "Zoë", "familyName": "Ångström",
                                 "emails": ["zoe@corp.example"], "title": "Engineer", "department": "R&D"}
    values.update(kw)
    return User(**values)  # type: ignore[arg-type]


def test_account_attributes_use_email_as_username_and_employee_id_as_external_id() -> None:
    attrs = p.account_attributes(person(), "sso")
    assert attrs == {
        "userName": "zoe@corp.example", "externalId": "E100", "displayName": "Zoë Ångström",
        "name.givenName": "Zoë", "name.familyName": "Ångström", "emails": ["zoe@corp.example"],
        "title": "Engineer", "department": "R&D", "active": True,
    }


def test_account_attributes_fall_back_to_username_and_keep_every_key() -> None:
    attrs = p.account_attributes(person(emails=[], title="", department="", displayName="Z. Å."), "password")
    assert attrs["userName"] == "zoe"
    assert attrs["displayName"] == "Z. Å."
    assert set(attrs) == set(p.ATTRIBUTE_PATHS)  # a cleared value still shows up in the engine's diff
    assert attrs["title"] == "" and attrs["emails"] == []


def test_user_payload_puts_department_in_the_enterprise_extension_and_leaves_out_empty_values() -> None:
    body = p.user_payload(p.account_attributes(person(title=""), "sso"))
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User", p.ENTERPRISE_URN]
    assert body[p.ENTERPRISE_URN] == {"department": "R&D"}
    assert body["emails"] == [{"value": "zoe@corp.example", "type": "work", "primary": True}]
    assert "title" not in body and "department" not in body


def test_user_patch_carries_only_the_changes_and_removes_cleared_values() -> None:
    body = p.user_patch({"title": "", "department": "Ops", "active": False, "emails": ["new@corp.example"]})
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    assert body["Operations"] == [
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": f"{p.ENTERPRISE_URN}:department", "value": "Ops"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "emails", "value": [{"value": "new@corp.example", "type": "work", "primary": True}]},
    ]


def test_unknown_attribute_is_refused_before_sending() -> None:
    with pytest.raises(BadInput, match="manager"):
        p.user_patch({"manager": "x"})


def test_member_patches_are_deltas_with_rfc_remove_filters() -> None:
    (add,) = p.add_members_patches(["u1", "u2", "u1"])
    assert add["Operations"] == [{"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]
    (remove,) = p.remove_members_patches(["u1", 'we"ird'])
    assert [op["path"] for op in remove["Operations"]] == ['members[value eq "u1"]', 'members[value eq "we\\"ird"]']
    assert len(p.add_members_patches([f"u{i}" for i in range(250)])) == 3


def test_filter_quotes_values() -> None:
    assert p.eq_filter("userName", "sean.o'brien@corp.example") == 'userName eq "sean.o\'brien@corp.example"'
    assert p.eq_filter("displayName", 'a"b\\c') == 'displayName eq "a\\"b\\\\c"'


@pytest.mark.parametrize("name", ["jira-software-users", "Confluence-Users", "site-admins", "administrators",
                                  "jira-administrators", "trusted-users", "org-admins", "bitbucket-users",
                                  "jira-servicedesk-users", "confluence-users-acme", "jira-software-users-acme.com"])
def test_default_groups_are_recognised(name: str) -> None:
    assert p.is_default_group(name)


@pytest.mark.parametrize("name", ["engineering", "jira-fans", "bitbucket-reviewers", "users"])
def test_ordinary_groups_are_not_default(name: str) -> None:
    assert not p.is_default_group(name)


def test_responses_with_atlassian_extras_parse_into_the_same_flat_keys() -> None:
    attrs = p.account_attributes(person(), "sso")
    doc = p.user_payload(attrs) | {
        "id": "abc", "organization": "Corp", "timezone": "Europe/Paris", "groups": [{"value": "g1", "display": "eng"}],
        p.ATLASSIAN_URN: {"atlassianAccountId": "557058:aaid"}, "meta": {"resourceType": "User"}}
    doc["schemas"] = [*doc["schemas"], p.ATLASSIAN_URN]
    account = p.to_account(doc)
    assert account.uid == "abc" and account.name == "zoe@corp.example" and account.active
    assert p.differences(attrs, account.attrs) == {}
    assert p.differences(attrs | {"userName": "ZOE@corp.example", "title": "CTO"}, account.attrs) == {"title": "CTO"}


def test_settings_name_the_directory_url_and_the_key_as_a_secret() -> None:
    by_name = {s.name: s for s in SETTINGS}
    assert by_name["base_url"].required and by_name["token"].secret and by_name["client_secret"].secret
    assert not any(s.default is not None for s in SETTINGS if s.name in ("max_concurrency", "features", "deprovision"))


def test_a_connector_needs_a_base_url_and_credentials() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        AtlassianConnector(Application(name="a", kind="atlassian", settings={"base_url": "api.atlassian.com"},
                                        secrets={"token": "env:X"}))
    with pytest.raises(ConfigError, match="no credentials"):
        AtlassianConnector(Application(name="a", kind="atlassian", settings={"base_url": "https://h/scim/directory/d"}))


@pytest.mark.parametrize("user", [
    person(), person(title="", department=""), person(emails=["a@corp.example", "b@corp.example"], givenName=""),
    person(givenName="小龙", familyName="李", displayName=""),
    person(familyName="Ñúñez-Ibáñez", givenName="", emails=[]),
    person(status="leaver"),
])
def test_create_payload_is_exactly_the_scim2_models_user(user: User) -> None:
    from scim2_models import Context

    attrs = p.account_attributes(user, "sso")
    assert p.user_payload(attrs) == p.user_resource(attrs).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    assert p.ScimUser.model_validate(p.user_payload(attrs), scim_ctx=Context.RESOURCE_CREATION_REQUEST)



def test_group_bodies_built_directly_are_exactly_the_scim2_models_ones() -> None:
    assert p.group_payload("eng team") == p.group_resource_payload("eng team")
    uids = [f"u{i}" for i in range(150)] + ['we"ird', "back\\slash"]
    for action in ("add", "remove"):
        assert p.member_patches(action, uids) == p.member_patches(action, uids, validate=True)


def test_groups_are_read_as_plain_json() -> None:
    group = p.to_group({"id": 7, "displayName": "eng", "externalId": None,
                        "members": [{"value": "u1"}, {"display": "no value"}, "junk", {"value": "u2"}]})
    assert (group.uid, group.name, group.members) == ("7", "eng", ["u1", "u2"])
    assert group.attrs == {"displayName": "eng", "externalId": ""}

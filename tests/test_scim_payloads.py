"""The pure half of the Atlassian connector: attributes, payloads, PatchOps, filters, default groups."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from console.connectors.atlassian import SETTINGS, AtlassianConnector
from console.connectors.atlassian import payloads as p
from console.connectors.atlassian import reference
from console.errors import BadInput, ConfigError, Rejected
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


def test_user_payload_puts_department_at_the_top_level_and_leaves_out_empty_values() -> None:
    body = p.user_payload(p.account_attributes(person(title=""), "sso"))
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]  # the extension is readOnly
    assert body["department"] == "R&D" and p.ENTERPRISE_URN not in body
    assert body["emails"] == [{"value": "zoe@corp.example", "type": "work", "primary": True}]
    assert "title" not in body


def test_user_patch_never_removes_the_emails() -> None:
    with pytest.raises(Rejected, match="requires an e-mail"):
        p.user_patch({"emails": []})


def test_user_patch_carries_only_the_changes_and_removes_cleared_values() -> None:
    body = p.user_patch({"title": "", "department": "Ops", "active": False, "emails": ["new@corp.example"]})
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    assert body["Operations"] == [
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": "department", "value": "Ops"},
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
    assert p.user_payload(attrs) == reference.user_body(attrs)
    assert reference.ScimUser.model_validate(p.user_payload(attrs), scim_ctx=Context.RESOURCE_CREATION_REQUEST)



# ---- the plain bodies and readers are exactly what scim2-models makes and reads ------------------------------------
# `payloads` builds and reads plain dicts (no pydantic on a sync); `reference` holds the scim2-models equivalent.
BOUNDED = settings(max_examples=40, deadline=None)
texts = st.text(max_size=12)
# scim2-models normalizes an address's domain (email_validator: lowercase, IDNA); the connector sends the address as
# the person's record has it (the directory compares case-blind, and so does `differences`): ASCII lowercase domains.
email = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_%+-]{0,9}@[a-z0-9]{1,10}\.[a-z]{2,5}", fullmatch=True)
addresses = st.lists(email, max_size=3)
user_attrs = st.fixed_dictionaries({
    "userName": email, "externalId": texts, "displayName": texts, "name.givenName": texts,
    "name.familyName": texts, "emails": addresses, "title": texts, "department": texts, "active": st.booleans()})
user_changes = st.dictionaries(st.sampled_from(sorted(set(p.ATTRIBUTE_PATHS) - {"emails"})), texts, min_size=1, max_size=5).map(
    lambda d: {k: (v != "" if k == "active" else v) for k, v in d.items()}) | st.builds(
    lambda e: {"emails": e}, st.lists(email, min_size=1, max_size=3))
ids = st.lists(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=8),
               max_size=250)


@BOUNDED
@given(user_attrs)
def test_the_plain_create_body_is_the_scim2_models_user(attrs: dict[str, Any]) -> None:
    assert p.user_payload(attrs) == reference.user_body(attrs)


@BOUNDED
@given(user_changes)
@example({"userName": ""})
def test_the_plain_user_patch_is_what_scim2_models_validates_and_serializes(changes: dict[str, Any]) -> None:
    if changes.get("userName") == "":  # a required attribute: both refuse to remove it
        with pytest.raises(Rejected, match="requires a userName"):
            p.user_patch(changes)
        with pytest.raises(ValueError, match="required attribute cannot be removed"):
            reference.patch_body("User", {"schemas": [p.PATCH_URN], "Operations": [{"op": "remove", "path": "userName"}]})
        return
    body = p.user_patch(changes)
    assert body == reference.patch_body("User", body)


@BOUNDED
@given(ids, texts)
def test_the_plain_group_bodies_are_what_scim2_models_makes(members: list[str], name: str) -> None:
    assert p.group_payload(name or "g") == reference.group_body(name or "g")
    for body in p.add_members_patches(members) + p.remove_members_patches(members):
        assert body == reference.patch_body("Group", body)


def test_a_value_of_the_wrong_kind_is_refused_before_sending() -> None:
    for change in ({}, {"title": 5}, {"userName": ["x"]}, {"emails": "a@corp.example"}, {"emails": [None]}):
        with pytest.raises(Rejected, match="not valid for Atlassian"):
            p.user_patch(change)
    with pytest.raises(Rejected, match="requires a userName"):  # scim2-models: a required attribute is not removed
        p.user_patch({"userName": ""})
    with pytest.raises(Rejected, match="not valid for Atlassian"):
        p.add_members_patches(["u1", 7])  # type: ignore[list-item]
    with pytest.raises(Rejected, match="not valid for Atlassian"):  # scim2-models cannot parse its filter either
        p.remove_members_patches(["u1", "\x1f"])


member = st.fixed_dictionaries({"value": st.one_of(st.none(), texts, st.integers())},
                               optional={"display": texts, "type": st.sampled_from(["User", "Group"])})
group_doc = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8)},
    optional={"displayName": st.one_of(texts, st.integers(), st.none()), "externalId": st.one_of(texts, st.booleans()),
              "members": st.one_of(st.lists(member, max_size=4), st.text(max_size=3)),
              "schemas": st.just(["urn:ietf:params:scim:schemas:core:2.0:Group"])})


@BOUNDED
@given(group_doc)
def test_a_group_answer_reads_as_scim2_models_reads_it_or_is_refused_as_it_refuses_it(doc: dict[str, Any]) -> None:
    try:
        expected = reference.group(doc)
    except ValueError:
        with pytest.raises(ConfigError, match="not a SCIM Group"):
            p.to_group(doc)
        return
    group = p.to_group(doc)
    assert (group.name, group.members, group.attrs["externalId"]) == expected


page_doc = st.fixed_dictionaries(
    {"totalResults": st.one_of(st.integers(0, 10**6), texts)},
    optional={"startIndex": st.one_of(st.integers(1, 100), texts), "itemsPerPage": st.one_of(st.integers(0, 100), texts),
              "Resources": st.lists(st.fixed_dictionaries({"id": texts}), max_size=3),
              "schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])})


@BOUNDED
@given(page_doc)
@example({"totalResults": "0"})
@example({"totalResults": 0, "startIndex": "0"})
@example({"totalResults": 0, "itemsPerPage": "7"})
def test_a_list_page_reads_as_scim2_models_reads_it_or_is_refused_as_it_refuses_it(doc: dict[str, Any]) -> None:
    try:
        expected = reference.list_total(doc)
    except ValueError:
        with pytest.raises(ConfigError, match="not a SCIM list"):
            p.list_page(doc)
        return
    if any(isinstance(doc.get(k), str) for k in ("totalResults", "startIndex", "itemsPerPage")):
        # the models coerce "0" (pydantic's lax mode); RFC 7644 says a number
        with pytest.raises(ConfigError, match="not a number"):
            p.list_page(doc)
        return
    assert p.list_page(doc) == (expected, doc.get("Resources") or [])


def test_a_sync_process_never_imports_pydantic() -> None:
    """The connector, the engine and the CLI's sync load without scim2-models or pydantic (a second of CPU)."""
    code = ("import sys, console.cli, console.connectors.atlassian.connector, console.sync.engine; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'scim2_models')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "[]"

"""Attribute mapping: formats and filters, configuration checks, validation of results per target."""
from __future__ import annotations

import pytest

from console.errors import BadInput
from console.inbound.endpoints import Endpoint, save_endpoint
from console.mapping import Expression, Mapping, check_value, default_mapping, load_mapping, save_mapping
from console.text import ascii_fold as to_ascii  # the mapping filter `ascii`
from console.sandbox.bitbucket import make_membership

ZOE = make_membership("557058:z1", "Zoë Ångström", nickname="zoe")
BRUCE = make_membership("557058:b1", "李小龙", nickname="xiaolong")
LONG = make_membership("557058:l1", "Maximilian-Alexander von Schwarzenegger", nickname="max")


def evaluate(text: str, record: dict) -> str | None:
    from console.inbound.endpoints import flatten

    return Expression(text).evaluate(flatten(record))


def test_format_with_filters_builds_a_login():
    fmt = "{user.display_name|first|ascii|lower}.{user.display_name|last|ascii|lower}"
    assert evaluate(fmt, ZOE) == "zoe.angstrom"
    assert evaluate("{user.display_name|first|initial|lower}{user.display_name|last|ascii|lower}", ZOE) == "zangstrom"
    assert evaluate("{user.display_name|upper|nospace}", ZOE) == "ZOËÅNGSTRÖM"
    assert evaluate("{user.display_name|ascii|truncate(6)}", LONG) == "Maximi"
    assert evaluate("{user.display_name|butlast}", LONG) == "Maximilian-Alexander von"
    assert evaluate("{user.title|default(Engineer)}", ZOE) == "Engineer"  # absent field, but a literal fallback
    assert evaluate("user.nickname", ZOE) == "zoe"
    assert evaluate("user.nickname|upper", ZOE) == "ZOE"
    assert evaluate("{{{user.nickname}}}", ZOE) == "{zoe}"
    assert evaluate("{user.display_name|trim|title}", make_membership("x", "  anna  maria ")) == "Anna Maria"


def test_a_mapping_from_absent_fields_leaves_the_attribute_alone():
    assert evaluate("user.email", ZOE) is None
    assert evaluate("{user.email}@x", ZOE) is None


def test_transliteration():
    assert to_ascii("Zoë Ångström") == "Zoe Angstrom"
    assert to_ascii("Łukasz Søren Straße Æbelø") == "Lukasz Soren Strasse AEbelo"
    assert to_ascii("李小龙") == ""


@pytest.mark.parametrize("text, message", [
    ("{user.display_name|shout}", "unknown filter 'shout'"),
    ("{user.display_name|truncate(x)}", "truncate needs a number"),
    ("{user.display_name|lower(1)}", "takes no argument"),
    ("{user.display_name", "never closed"),
    ("user}", "has no opening"),
    ("{}", "empty field name"),
    ("literal only {{}}", "names no source field"),
])
def test_bad_expressions_are_refused_with_the_reason(text, message):
    with pytest.raises(BadInput) as caught:
        Expression(text)
    assert message in caught.value.title


@pytest.mark.parametrize("attribute, value, rule", [
    ("sAMAccountName", "maximilian.schwarzenegger", "AD allows at most 20"),
    ("sAMAccountName", "a@b", "contains @"),
    ("sAMAccountName", 'x"y[z]', 'contains " [ ]'),
    ("sAMAccountName", "", "must not be empty"),
    ("sAMAccountName", "zoe.", "must not end with a period"),
    ("userPrincipalName", "zoe", "name@domain.tld"),
    ("userPrincipalName", "zoe@localhost", "name@domain.tld"),
    ("mail", "zoe@@example.com", "not a valid e-mail"),
    ("email", "zoe example@example.com", "not a valid e-mail"),
    ("userName", "zoe angstrom", "must not contain spaces"),
    ("employeeId", " 42", "must not start or end with a space"),
    ("givenName", "x" * 65, "at most 64"),
    ("displayName", "tab\there", "control characters"),
])
def test_rules_per_target(attribute, value, rule):
    broken = check_value(attribute, value)
    assert broken is not None and rule in broken


def test_valid_values_pass():
    for attribute, value in (("sAMAccountName", "zoe.angstrom"), ("userPrincipalName", "zoe@corp.example.com"),
                             ("mail", "zoe.angstrom@example.co.uk"), ("mail", ""), ("displayName", "李小龙"),
                             ("employeeId", "557058:z1")):
        assert check_value(attribute, value) is None, (attribute, value)


def test_invalid_result_is_reported_per_record_with_field_value_rule():
    mapping = Mapping("ad logins", "bb", mappings={
        "sAMAccountName": "{user.display_name|first|ascii|lower}.{user.display_name|last|ascii|lower}",
        "userPrincipalName": "{user.nickname}@corp.example.com"})
    good, bad = mapping.preview([ZOE, LONG])
    assert good.ok and good.values["sAMAccountName"] == "zoe.angstrom" and good.values["employeeId"] == "557058:z1"
    assert not bad.ok and [(i.key, i.field, i.value) for i in bad.issues] == [
        ("557058:l1", "sAMAccountName", "maximilian-alexander.schwarzenegger")]
    assert "AD allows at most 20" in str(bad.issues[0]) and "557058:l1" in str(bad.issues[0])


def test_missing_primary_key_is_an_issue():
    record = make_membership("x", "No Key")
    del record["user"]["account_id"]
    mapped = default_mapping("bb").apply(record)
    assert not mapped.ok and mapped.issues[0].rule == "primary key is missing"


def test_default_mapping_follows_the_cli_contract():
    mapped = default_mapping("bb").apply(make_membership("557058:a", "Bob van der Berg", nickname="bob"))
    assert mapped.values == {"employeeId": "557058:a", "displayName": "Bob van der Berg", "givenName": "Bob van der",
                             "familyName": "Berg", "userName": "bob", "bitbucketAccountId": "557058:a",
                             "bitbucketUuid": mapped.values["bitbucketUuid"], "role": "member"}
    assert mapped.values["bitbucketUuid"].startswith("{")
    single = default_mapping("bb").apply(BRUCE).values
    assert (single["givenName"], single["familyName"]) == ("", "李小龙")
    with_mail = default_mapping("bb").apply(make_membership("557058:e", "Eve Adams", email="eve@example.com")).values
    assert with_mail["email"] == "eve@example.com"
    assert "userName" not in default_mapping("bb", primary_attr="userName").mappings


@pytest.mark.parametrize("mappings, message", [
    ({"employeeId": "user.uuid"}, "is the primary key attribute"),
    ({"status": "user.account_status"}, "is not a target attribute"),
    ({"bad name": "user.nickname"}, "is not a target attribute"),
])
def test_bad_targets_are_refused(mappings, message):
    with pytest.raises(BadInput) as caught:
        Mapping("m", "bb", mappings=mappings).compiled()
    assert message in caught.value.title


def test_primary_key_must_exist_in_every_selected_endpoint():
    mapping = Mapping("m", "bb", endpoints=["users", "permissions"], primary_key="user.account_id",
                      mappings={"title": "permission", "userName": "user.nickname", "department": "user.team"})
    fields = {"users": ["user.account_id", "user.nickname"], "permissions": ["user.uuid", "permission"]}
    with pytest.raises(BadInput) as caught:
        mapping.check(fields)
    assert "user.account_id is not returned by endpoint(s) 'permissions'" in caught.value.title
    fields["permissions"].append("user.account_id")
    assert mapping.check(fields) == ["department: field user.team was not in the sampled records"]
    with pytest.raises(BadInput):
        mapping.check({"users": ["user.account_id"]})  # an endpoint never tested


def test_mappings_are_stored_after_the_check(bb_store):
    assert load_mapping(bb_store, "bb").name == "Bitbucket default mapping"
    users = Endpoint("users", "bb", "{base_url}/workspaces/{workspace}/members",
                     fields=["user.account_id", "user.nickname"])
    perms = Endpoint("perms", "bb", "{base_url}/workspaces/{workspace}/permissions", primary=False,
                     fields=["permission"])
    save_endpoint(bb_store, users)
    save_endpoint(bb_store, perms)
    mapping = Mapping("logins", "bb", endpoints=["users", "perms"], mappings={"userName": "user.nickname"})
    with pytest.raises(BadInput):
        save_mapping(bb_store, mapping)
    mapping.endpoints = ["users"]
    assert save_mapping(bb_store, mapping) == []
    assert load_mapping(bb_store, "bb") == mapping
    with pytest.raises(BadInput):
        save_endpoint(bb_store, Endpoint("USERS", "bb", "{base_url}/x"))  # names are unique per application

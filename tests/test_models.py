"""Model and validation rules: required fields, e-mail syntax, uniqueness, lengths, messages, unicode."""
from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timezone

import pytest

from console import clock
from console.errors import ValidationError
from console.models import Event, Group, Policy, User, attrs_hash, new_id, utcnow
from console.store import Store
from console.text import ascii_fold
from console.validation import check_email, validate_group, validate_policy, validate_user
from tests.plugins.core import person

UNICODE_NAMES = [("Zoë", "Ångström"), ("Seán", "O'Brien"), ("小龙", "李"), ("María", "Ñúñez-Ibáñez")]


# ---- required fields ------------------------------------------------------------------------
def test_a_person_needs_an_employee_id_when_it_is_the_primary_key() -> None:
    with pytest.raises(ValidationError) as err:
        validate_user(User(employeeId="  ", userName="zoe"))
    assert err.value.field == "employeeId" and err.value.rule == "is required"


def test_employee_id_may_be_empty_when_another_attribute_is_the_primary_key() -> None:
    user = validate_user(User(employeeId="", userName="zoe"), primary_key="userName")
    assert user.employeeId == ""


def test_a_person_needs_a_user_name() -> None:
    with pytest.raises(ValidationError) as err:
        validate_user(User(employeeId="E1", userName=""))
    assert err.value.field == "userName" and "required" in str(err.value)


def test_surrounding_white_space_is_trimmed_and_display_name_defaults_to_given_and_family_name() -> None:
    user = validate_user(User(employeeId=" E1 ", userName=" zoe ", givenName=" Zoë ", familyName="Ångström ",
                              emails=["  zoe@example.com ", " "]))
    assert (user.employeeId, user.userName, user.displayName) == ("E1", "zoe", "Zoë Ångström")
    assert user.emails == ["zoe@example.com"]


def test_display_name_falls_back_to_the_user_name() -> None:
    assert validate_user(User(employeeId="E1", userName="zoe")).displayName == "zoe"


# ---- e-mail -----------------------------------------------------------------------------------
def test_email_is_optional() -> None:
    assert validate_user(User(employeeId="E1", userName="zoe")).emails == []


@pytest.mark.parametrize("address", [
    "zoe@example.com", "zoë.ångström@example.se", "o'brien+news@sub.example.co.uk", "李小龙@例子.中国",
    "first.last-x_y@ex-ample.org",
])
def test_valid_email_addresses_are_accepted(address: str) -> None:
    check_email(address)


@pytest.mark.parametrize("address", [
    "plain", "zoe@", "@example.com", "zoe@example", "zoe@@example.com", "zo e@example.com", "zoe..x@example.com",
    ".zoe@example.com", "zoe.@example.com", "zoe@-example.com", "zoe@example-.com", "zoe@example.c0m",
    "zoe@example..com",
])
def test_malformed_email_addresses_are_rejected_naming_field_value_and_rule(address: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_user(User(employeeId="E1", userName="zoe", emails=[address]))
    assert err.value.field == "email" and err.value.value == address
    assert str(err.value).startswith(f"email: {address!r} is not a valid e-mail address")
    assert err.value.hint


def test_the_same_address_twice_in_one_person_is_rejected_case_insensitively() -> None:
    with pytest.raises(ValidationError, match="same address twice"):
        validate_user(User(employeeId="E1", userName="zoe", emails=["zoe@example.com", "ZOE@example.com"]))


# ---- lengths and characters -------------------------------------------------------------------
@pytest.mark.parametrize(("field", "limit"), [("employeeId", 64), ("userName", 104), ("givenName", 64),
                                               ("familyName", 64), ("displayName", 256), ("department", 64),
                                               ("title", 128)])
def test_fields_longer_than_their_limit_are_rejected_and_the_limit_itself_is_fine(field: str, limit: int) -> None:
    validate_user(person(1, **{field: "a" * limit}))
    with pytest.raises(ValidationError) as err:
        validate_user(person(1, **{field: "a" * (limit + 1)}))
    assert err.value.field == field and err.value.rule == f"is longer than {limit} characters"
    assert str(err.value).startswith(f"{field}: 'aaa")  # names field and (a shortened) value


def test_an_email_longer_than_254_characters_is_rejected() -> None:
    address = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"
    assert len(address) > 254
    with pytest.raises(ValidationError, match="longer than 254"):
        check_email(address)


def test_control_characters_in_a_name_are_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        validate_user(person(1, givenName="Zo\x07ë"))
    assert err.value.field == "givenName" and err.value.rule == "contains control characters"


@pytest.mark.parametrize("name", ["zoe angstrom", "zoe/x", "zoe\"x"])
def test_a_user_name_with_spaces_or_punctuation_is_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_user(person(1, userName=name))
    assert err.value.field == "userName" and name in str(err.value)


def test_a_status_outside_active_and_leaver_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"status: 'gone' must be one of active, leaver"):
        validate_user(person(1, status="gone"))


@pytest.mark.parametrize(("given", "family"), UNICODE_NAMES)
def test_unicode_names_and_user_names_are_kept_exactly(given: str, family: str) -> None:
    user = validate_user(User(employeeId="E1", userName=f"{given}.{family}".replace(" ", ""), givenName=given,
                              familyName=family))
    assert (user.givenName, user.familyName, user.displayName) == (given, family, f"{given} {family}")


def test_decomposed_unicode_is_not_normalised_away() -> None:
    nfd = unicodedata.normalize("NFD", "Zoë")
    assert validate_user(person(1, givenName=nfd)).givenName == nfd


def test_groups_and_policies_have_their_rules() -> None:
    with pytest.raises(ValidationError, match="name: '' is required"):
        validate_group(Group(name="  "))
    with pytest.raises(ValidationError, match="longer than 256"):
        validate_group(Group(name="g" * 257))
    with pytest.raises(ValidationError, match="login_method: 'kerberos'"):
        validate_policy(Policy(name="p", app="a", groups=["g"], login_method="kerberos"))
    with pytest.raises(ValidationError, match="needs at least one group"):
        validate_policy(Policy(name="p", app="a", groups=[]))


def test_ascii_fold_drops_accents_for_targets_that_need_ascii() -> None:
    assert ascii_fold("Zoë Ångström Seán Ñúñez-Ibáñez Łukasz Straße") == "Zoe Angstrom Sean Nunez-Ibanez Lukasz Strasse"


# ---- uniqueness (enforced by the store's indexes) ---------------------------------------------
@pytest.mark.parametrize(("field", "other"), [
    ("employeeId", {"employeeId": "e1"}),
    ("userName", {"userName": "USER1"}),
    ("email", {"emails": ["User1@Example.COM"]}),
])
def test_primary_key_user_name_and_email_are_unique_case_insensitively(state: Store, field: str, other: dict) -> None:
    state.users.add(person(1))
    clash = person(2, **other)
    with pytest.raises(ValidationError) as err:
        state.users.add(clash)
    assert err.value.field == field
    assert "is already used by user1" in str(err.value)
    assert len(state.users) == 1 and state.users.find("user2") is None


def test_a_person_may_keep_their_own_values_when_changed(state: Store) -> None:
    user = state.users.add(person(1))
    state.users.put(User.from_doc({**user.to_doc(), "userName": "User1", "title": "Boss"}))
    assert state.users.find("USER1").title == "Boss"


def test_duplicates_inside_one_batch_are_refused_and_nothing_is_stored(state: Store) -> None:
    with pytest.raises(ValidationError, match="given twice"):
        state.users.put_many([person(1), person(2, userName="User1")])
    assert len(state.users) == 0 and state.users.find("user1") is None


def test_group_names_are_unique_case_insensitively(state: Store) -> None:
    state.groups.add(Group(name="Sales"))
    with pytest.raises(ValidationError, match="already the name of another group"):
        state.groups.add(Group(name="sALES"))


# ---- documents --------------------------------------------------------------------------------
def test_from_doc_ignores_keys_it_does_not_know_and_round_trips() -> None:
    user = person(1, attributes={"costCenter": "42"})
    assert User.from_doc({**user.to_doc(), "legacy": 1}) == user
    assert user.email == "user1@example.com" and user.key() == "E1" and user.key("costCenter") == "42"


def test_events_default_to_a_utc_timestamp_and_attrs_hash_ignores_key_order() -> None:
    event = Event(action="create", status="success")
    assert event.time.endswith("Z") and len(event.time) == 20
    assert attrs_hash({"a": 1, "b": [2]}) == attrs_hash({"b": [2], "a": 1}) != attrs_hash({"a": 2, "b": [2]})


def test_new_ids_are_random_version_4_uuids_as_hex() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


# ---- timestamps -------------------------------------------------------------------------------
@pytest.mark.parametrize("moments", [
    # within one second, across its end, backwards, a whole day later
    ["2026-03-01T10:00:00.000001", "2026-03-01T10:00:00.999999", "2026-03-01T10:00:01", "2026-03-01T09:59:59.5",
     "2026-03-02T10:00:00.5", "2026-03-02T10:00:00"],
    # the same instant in another zone, then UTC again: each written in its own zone, as isoformat does
    ["2026-03-01T10:00:00.2+00:00", "2026-03-01T11:00:00.3+01:00", "2026-03-01T10:00:00.4+00:00"],
])
def test_utcnow_is_the_clocks_second_at_every_call(moments: list[str]) -> None:
    """`utcnow` formats each second once and reuses the text within it: every call still says the clock's second."""
    for text in moments:
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        with clock.fixed(moment):
            assert utcnow() == moment.isoformat(timespec="seconds").replace("+00:00", "Z")

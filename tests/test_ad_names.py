"""Pure AD naming rules: logon names, UPNs, DNs, GUIDs, passwords, proxyAddresses (no DC needed)."""
from __future__ import annotations

import re
import string
import uuid

import pytest

from console.connectors.ad import names
from console.errors import BadInput, ConfigError


@pytest.mark.parametrize(("given", "family", "expected"), [
    ("John", "Doe", "jdoe"),
    ("Łukasz", "Żółć", "lzolc"),
    ("Jürgen", "Groß", "jgross"),
    ("Søren", "Kierkegård", "skierkegard"),
    ("Ægir", "Ødegaard", "aodegaard"),
    ("Đorđe", "Đoković", "ddokovic"),
    ("Þóra", "Þórsdóttir", "tthorsdottir"),
    ("Anne-Marie", "O'Neil Smith", "aoneilsmith"),
    ("Zoë", "Saldaña", "zsaldana"),
])
def test_sam_proposal_folds_latin_names_to_ascii(given: str, family: str, expected: str) -> None:
    assert names.sam_proposal(given, family, "x", "E1") == expected


@pytest.mark.parametrize(("given", "family"), [("小龙", "李"), ("Ελένη", "Παπαδοπούλου"), ("Иван", "Петров"),
                                               ("Bruce", "李"), ("", "")])
def test_names_without_latin_letters_fall_back_to_the_employee_id(given: str, family: str) -> None:
    assert names.sam_proposal(given, family, "li", "10042") == "u10042"


def test_fallback_without_any_ascii_is_a_stable_hash() -> None:
    first = names.sam_proposal("小龙", "李", "李小龙", "李-7")
    assert re.fullmatch(r"u[0-9]+|u[0-9a-f]{8}", first) and first == names.sam_proposal("小龙", "李", "李小龙", "李-7")
    assert names.sam_proposal("小龙", "李", "李小龙", "李") == names.fallback_sam("李", "李小龙")
    assert len(names.fallback_sam("", "李小龙")) == 9


def test_sam_formats_and_their_validation() -> None:
    assert names.sam_proposal("John", "Doe", "jd@x", "E1", "{first}.{last}") == "john.doe"
    assert names.sam_proposal("John", "Doe", "jdoe7@corp.example", "E1", "{userName}") == "jdoe7"
    assert names.sam_proposal("John", "Doe", "x", "E-77", "{employeeId}") == "e-77"
    with pytest.raises(ConfigError, match="unknown tokens"):
        names.check_sam_format("{surname}")
    with pytest.raises(ConfigError, match="no token"):
        names.check_sam_format("static")


def test_sam_is_at_most_20_characters_and_never_ends_with_a_period() -> None:
    assert names.sam_proposal("Maximilian", "Wolfeschlegelsteinhausen", "x", "E1") == "mwolfeschlegelsteinh"
    dotted = names.sam_proposal("Ann", "Van.Der.Berg.Long.Long.Name", "x", "E1", "{first}.{last}")
    assert dotted == "ann.van.der.berg.lon"
    assert not names.sam_proposal("Ann", "Abcdefghijklmnop.rs", "x", "E1", "{first}{last}").endswith(".")


def test_candidates_iterate_without_exceeding_20() -> None:
    assert [names.sam_candidate("jdoe", n) for n in (1, 2, 3, 10)] == ["jdoe", "jdoe2", "jdoe3", "jdoe10"]
    base = "a" * 20
    assert names.sam_candidate(base, 2) == "a" * 19 + "2" and len(names.sam_candidate(base, 123)) == 20
    assert names.sam_candidate("abcdefghijklmnopqr.s", 12) == "abcdefghijklmnopqr12"
    assert names.sam_candidate("abcdefghijklmnopq.rs", 12) == "abcdefghijklmnopq12"  # no "." before the number


def test_upn_local_part() -> None:
    assert names.upn_local("Jane.Doe@corp.example", "jdoe") == "jane.doe"
    assert names.upn_local("Jürgen Groß", "jgross") == "jurgengross"
    assert names.upn_local("o'brien", "ob") == "o'brien"
    assert names.upn_local("李小龙", "u10042") == "u10042"


def test_group_sam_drops_forbidden_characters() -> None:
    assert names.group_sam('R&D "EU" [old]: a/b\\c|d=e,f+g*h?i<j>k;l') == "R&D EU old abcdefghijkl"
    assert names.group_sam(" padded ") == "padded"
    assert names.group_sam("***").startswith("g")


def test_rdn_escapes_every_dn_metacharacter() -> None:
    assert names.rdn("Smith, John") == "CN=Smith\\, John"
    assert names.rdn("#1 Fan") == "CN=\\#1 Fan"
    assert names.rdn(" x ") == "CN=\\ x\\ "
    assert names.rdn('a+b="c"<d>;e\\') == 'CN=a\\+b\\=\\"c\\"\\<d\\>\\;e\\\\'
    with pytest.raises(BadInput):
        names.rdn("")


def test_split_dn_honours_escaped_commas() -> None:
    assert names.split_dn("CN=Smith\\, John,OU=Staff,DC=corp") == ("CN=Smith\\, John", "OU=Staff,DC=corp")
    assert names.split_dn("CN=a\\\\,OU=x") == ("CN=a\\\\", "OU=x")
    assert names.split_dn("DC=corp") == ("DC=corp", "")


def test_common_name_is_cut_to_64_and_never_empty() -> None:
    assert len(names.common_name("x" * 100, "jdoe")) == 64
    assert names.common_name("  ", "jdoe") == "jdoe"
    assert names.common_name("Tab\there", "t") == "Tabhere"


def test_ou_dn_and_domain() -> None:
    assert names.ou_dn("OU=Staff", "DC=corp,DC=example") == "OU=Staff,DC=corp,DC=example"
    assert names.ou_dn("OU=Staff,DC=corp, DC=example", "DC=corp,DC=example") == "OU=Staff,DC=corp, DC=example"
    assert names.ou_dn("", "DC=corp") == ""
    assert names.domain_of("OU=x,DC=Corp,DC=example") == "Corp.example"


def test_guid_forms_round_trip() -> None:
    value = uuid.uuid4()
    assert names.guid_from_bytes(value.bytes_le) == str(value)
    assert names.normalize_guid("{" + str(value).upper() + "}") == str(value)
    assert names.guid_dn(str(value)) == f"<GUID={value}>"
    assert names.guid_filter(str(value)).count("\\") == 16
    with pytest.raises(BadInput):
        names.normalize_guid("CN=not,DC=a,DC=guid")


def test_extended_dn_parsing() -> None:
    guid = str(uuid.uuid4())
    assert names.parse_extended_dn(f"<GUID={guid}>;<SID=S-1-5-21-1-2-3-1105>;CN=a\\,b,DC=x") == (guid, "CN=a\\,b,DC=x")
    assert names.parse_extended_dn(f"<GUID={guid}>;CN=x") == (guid, "CN=x")
    assert names.parse_extended_dn("CN=plain,DC=x") == ("", "CN=plain,DC=x")


def test_generated_passwords_meet_ad_complexity_and_avoid_name_tokens() -> None:
    for _ in range(300):
        password = names.generate_password(["jdoe", "Jane Doe", "Jane", "Doe"])
        assert len(password) == 20
        assert sum(any(c in cls for c in password) for cls in (string.ascii_uppercase, string.ascii_lowercase,
                                                                string.digits, "!#%+-=?@_~")) == 4
        assert "jdoe" not in password.lower() and "jane" not in password.lower() and "doe" not in password.lower()
    assert len({names.generate_password([]) for _ in range(50)}) == 50


def test_proxy_addresses_merge_keeps_old_smtp_as_secondary_and_other_types() -> None:
    current = ["SMTP:old@corp.example", "smtp:alias@corp.example", "X500:/o=Org/cn=jd", "sip:jd@corp.example"]
    merged = names.merge_proxy_addresses(current, ["SMTP:new@corp.example", "smtp:alias@corp.example"])
    assert merged == ["SMTP:new@corp.example", "smtp:alias@corp.example", "smtp:old@corp.example",
                      "X500:/o=Org/cn=jd", "sip:jd@corp.example"]
    assert names.merge_proxy_addresses([], ["SMTP:a@x"]) == ["SMTP:a@x"]
    assert names.merge_proxy_addresses(["SMTP:A@x"], ["SMTP:a@x"]) == ["SMTP:a@x"]  # case-insensitive dedupe

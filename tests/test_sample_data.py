"""The demo organisation in sample_data/ is consistent, faithful to the Bitbucket spec and reproducible."""
from __future__ import annotations

import copy
import csv
import importlib.util
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from console.connectors import KINDS as APP_KINDS
from console.models import DEPROVISION_MODES, FEATURES, LOGIN_METHODS, USER_STATUSES, Application, Policy

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
HEADER = "employeeId,userName,givenName,familyName,displayName,email,department,title,manager,status"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SETTINGS = {  # the settings names of HELPERS.md
    "atlassian": {"base_url", "timeout", "client_id", "token_url"},
    "ad": {"url", "bind_user", "base_dn", "users_ou", "disabled_ou", "groups_ou", "upn_suffix", "mail_domain",
           "ca_file", "verify_tls", "start_tls", "sam_format", "password_file"},
    "graph": {"tenant_id", "client_id", "base_url", "authority", "usage_location", "license_skus", "upn_suffix",
              "revoke_sessions", "remove_licenses", "delete_after_days"},
    "bitbucket": {"workspace", "client_id", "base_url", "token_url", "auth", "email"},
}
SECRETS = {"atlassian": {"token", "client_secret"}, "ad": {"password"}, "graph": {"client_secret"},
           "bitbucket": {"client_secret", "api_token"}}


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _json(name: str) -> Any:
    return json.loads((SAMPLE / name).read_text(encoding="utf-8"))


def _csv_rows(name: str) -> list[dict[str, str]]:
    with open(SAMPLE / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def people() -> list[dict[str, str]]:
    return _csv_rows("people.csv")


@pytest.fixture(scope="module")
def by_id(people: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {p["employeeId"]: p for p in people}


def test_csv_header_is_exactly_the_contract() -> None:
    assert (SAMPLE / "people.csv").read_text(encoding="utf-8").splitlines()[0] == HEADER
    assert (SAMPLE / "bad_people.csv").read_text(encoding="utf-8").splitlines()[0] == HEADER


def test_csv_and_json_hold_the_same_people_with_unicode_intact(people: list[dict[str, str]]) -> None:
    from_json = _json("people.json")
    assert from_json == people
    assert list(from_json[0]) == HEADER.split(",")
    for p in people:
        for key, value in p.items():
            assert unicodedata.normalize("NFC", value) == value, (p["employeeId"], key)
    names = {p["displayName"] for p in people}
    for expected in ("Zoë Ångström", "José Ñúñez-Ibáñez", "Søren Kierkegaard-Øster", "Małgorzata Wiśniewska",
                     "François Lefèvre", "Seán O'Brien", "Giulia D'Angelo", "李小龙", "山田太郎", "Дмитрий Иванов",
                     "Αλέξανδρος Παπαδόπουλος", "محمد العلي"):
        assert expected in names


def test_csv_is_utf8_without_mojibake() -> None:
    raw = (SAMPLE / "people.csv").read_bytes()
    text = raw.decode("utf-8")  # strict: raises on any invalid byte
    assert "Zoë Ångström".encode() in raw and "李小龙".encode() in raw
    for garbage in ("Ã", "Â", "â€", "\ufffd", "Ð", "Ø§"):
        assert garbage not in text, garbage


def test_keys_are_unique_and_userNames_are_ascii(people: list[dict[str, str]]) -> None:
    assert 280 <= len(people) <= 320
    for key in ("employeeId", "userName", "email"):
        values = [p[key].lower() for p in people]
        assert len(set(values)) == len(values), key
    for p in people:
        assert re.fullmatch(r"E\d{5}", p["employeeId"])
        assert re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", p["userName"]), p["userName"]
        assert p["email"] == f"{p['userName']}@northwind.example"
        assert p["status"] in USER_STATUSES
        assert p["givenName"] and p["familyName"] and p["displayName"] and p["department"] and p["title"]


def test_managers_form_one_tree_under_the_ceo(people: list[dict[str, str]], by_id: dict[str, dict[str, str]]) -> None:
    roots = [p for p in people if not p["manager"]]
    assert [r["title"] for r in roots] == ["Chief Executive Officer"]
    for p in people:
        seen = set()
        node = p
        while node["manager"]:
            assert node["manager"] in by_id, f"{node['employeeId']} has unknown manager {node['manager']}"
            assert node["employeeId"] not in seen, f"cycle through {node['employeeId']}"
            seen.add(node["employeeId"])
            node = by_id[node["manager"]]
        assert node is roots[0]
    departments = {p["department"] for p in people} - {"Executive"}
    heads = {p["department"] for p in people if p["manager"] == roots[0]["employeeId"]}
    assert departments <= heads, "every department has a head reporting to the CEO"


def test_the_hard_cases_are_present(people: list[dict[str, str]]) -> None:
    displays = [p["displayName"] for p in people]
    assert displays.count("John Smith") == 2 and displays.count("Maria Garcia") == 2
    assert 5 <= sum(p["status"] == "leaver" for p in people) <= 10
    sam_default = [gen.ascii_slug(p["givenName"][:1] + p["familyName"]) for p in people]
    assert sum(len(s) > 20 for s in sam_default) >= 2
    assert sum(len(p["userName"]) > 20 for p in people) >= 3
    assert any("'" in p["familyName"] for p in people) and any("-" in p["givenName"] for p in people)
    non_latin = [p for p in people if not any(c.isascii() and c.isalpha() for c in p["displayName"])]
    assert len(non_latin) >= 5
    assert {p["userName"] for p in non_latin} >= {"xiaolong.li", "taro.yamada", "dmitry.ivanov",
                                                  "alexandros.papadopoulos", "mohammed.alali"}


def test_only_reserved_domains_are_used() -> None:
    for path in SAMPLE.glob("*.*"):
        if path.suffix in (".csv", ".json", ".md", ".py"):
            for domain in re.findall(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+)", path.read_text(encoding="utf-8")):
                assert domain.endswith((".example", ".test")), (path.name, domain)


def test_groups_reference_existing_people(people: list[dict[str, str]], by_id: dict[str, dict[str, str]]) -> None:
    groups = {g["name"]: g for g in _json("groups.json")}
    assert len(groups) == len(_json("groups.json")) and 12 <= len(groups) <= 20
    for group in groups.values():
        assert set(group) == {"name", "description", "members"}
        assert len(set(group["members"])) == len(group["members"]), group["name"]
        assert all(e in by_id for e in group["members"]), group["name"]
    assert set(groups["ad-users"]["members"]) == set(by_id)
    assert set(groups["m365-licensed"]["members"]) == {p["employeeId"] for p in people if p["status"] == "active"}
    atlassian = {p["employeeId"] for p in people if p["department"] in ("Engineering", "Support", "IT")}
    assert set(groups["atlassian-users"]["members"]) == atlassian and 110 <= len(atlassian) <= 140
    for dept in {p["department"] for p in people}:
        assert set(groups[f"dept-{dept.lower()}"]["members"]) == {e for e, p in by_id.items()
                                                                  if p["department"] == dept}
    assert groups["Équipe Montréal"]["members"] and any(not g["members"] for g in groups.values())
    assert groups["vpn-users"]["members"] and groups["finance-approvers"]["members"]


def test_policies_and_apps_load_into_the_model() -> None:
    apps = {a["name"]: a for a in _json("apps.json")}
    groups = {g["name"] for g in _json("groups.json")}
    assert set(apps) == {"bitbucket-cloud", "corp-ad", "m365", "bitbucket-members"}
    for app in apps.values():
        model = Application.from_doc(app)
        assert model.kind in APP_KINDS and model.deprovision in DEPROVISION_MODES
        assert set(model.settings) <= SETTINGS[model.kind], model.name
        assert set(model.secrets) <= SECRETS[model.kind], model.name
        assert all(ref.startswith(("env:", "keyring:")) for ref in model.secrets.values())
        assert set(model.features) <= set(FEATURES)
    assert apps["corp-ad"]["settings"]["base_dn"] == "DC=corp,DC=northwind,DC=example"
    assert re.fullmatch(GUID, apps["m365"]["settings"]["license_skus"][0])
    assert apps["bitbucket-members"]["settings"]["workspace"] == "northwind"
    policies = [Policy.from_doc(p) for p in _json("policies.json")]
    assert len({p.name for p in policies}) == len(policies)
    for policy in policies:
        assert policy.app in apps and set(policy.groups) <= groups and policy.login_method in LOGIN_METHODS
    bound = {(p.app, tuple(p.groups), p.login_method) for p in policies if p.enabled}
    assert bound >= {("bitbucket-cloud", ("atlassian-users",), "sso"), ("corp-ad", ("ad-users",), "password"),
                     ("m365", ("m365-licensed",), "sso")}
    assert any(not p.enabled for p in policies)


def _spec_definitions() -> dict[str, Any]:
    spec_path = gen.find_spec()
    if spec_path is None:
        pytest.fail("bitbucket-users-subset.json not found: set IDCONSOLE_BITBUCKET_SPEC")
    return json.loads(spec_path.read_text(encoding="utf-8"))["definitions"]


def test_bitbucket_members_validate_against_the_spec_subset() -> None:
    defs = _spec_definitions()
    members = _json("bitbucket_members.json")
    for i, member in enumerate(members):
        assert gen.check_membership(member, defs, f"members[{i}]") == []
        assert member["user"]["type"] == "user" and "email" not in member["user"]
    page = _json("bitbucket_page1.json")
    assert gen.check_schema(page, {"$ref": "#/definitions/paginated_workspace_memberships"}, defs) == []
    assert page["values"] == members[:100] and page["size"] == len(members) and page["pagelen"] == 100
    assert page["page"] == 1 and page["next"].startswith("https://") and "previous" not in page


def test_the_spec_check_catches_wrong_members() -> None:
    defs = _spec_definitions()
    good = _json("bitbucket_members.json")[0]
    broken = copy.deepcopy(good)
    del broken["user"]["type"]
    broken["user"]["email"] = "someone@northwind.example"
    broken["user"]["nickname"] = 42
    broken["links"]["self"]["href"] = "not a uri"
    broken["links"]["html"] = {"href": "https://bitbucket.org/x"}  # links of a membership only allow self
    errors = gen.check_membership(broken, defs)
    for fragment in ("email", "nickname", "not a URI", "unexpected property 'html'", "missing 'type'"):
        assert any(fragment in e for e in errors), fragment
    no_type = copy.deepcopy(good)
    del no_type["type"]
    assert any("missing required 'type'" in e for e in gen.check_membership(no_type, defs))


def test_bitbucket_members_are_mostly_atlassian_users(people: list[dict[str, str]]) -> None:
    members = _json("bitbucket_members.json")
    users = [m["user"] for m in members]
    assert 130 <= len(users) <= 150
    for key in ("uuid", "account_id"):
        assert len({u[key] for u in users}) == len(users)
    for u in users:
        assert re.fullmatch("{" + GUID + "}", u["uuid"]) and re.fullmatch(f"(557058|712020):{GUID}", u["account_id"])
    atlassian = {p["displayName"] for p in people if p["department"] in ("Engineering", "Support", "IT")}
    known = {p["displayName"] for p in people}
    names = [u["display_name"] for u in users]
    assert sum(n in atlassian for n in names) >= 110
    assert 8 <= sum(n not in known for n in names) <= 15
    nicknames = [u["nickname"] for u in users]
    assert len(set(nicknames)) < len(nicknames), "Bitbucket nicknames are not unique; the data shows it"


def test_graph_users_are_adoptable_sample_people(people: list[dict[str, str]]) -> None:
    emails = {p["email"]: p for p in people}
    graph_users = _json("graph_users.json")
    assert 3 <= len(graph_users) <= 8
    for u in graph_users:
        assert re.fullmatch(GUID, u["id"])
        assert u["userPrincipalName"] in emails and u["mail"] == u["userPrincipalName"]
        person = emails[u["userPrincipalName"]]
        assert (u["displayName"], u["givenName"], u["surname"]) == (
            person["displayName"], person["givenName"], person["familyName"])
        assert isinstance(u["accountEnabled"], bool) and u["usageLocation"] == "GB"
    assert any(emails[u["userPrincipalName"]]["status"] == "leaver" for u in graph_users)


def _row_faults(rows: list[tuple[int, dict[str, str]]], people: list[dict[str, str]]) -> set[tuple[int, str, str]]:
    """An independent reading of the import rules: (line, field, reason keyword) for every bad row."""
    known_users = {p["userName"].lower() for p in people}
    identifiers = {v.lower() for p in people for v in (p["employeeId"], p["userName"], p["email"])}
    identifiers |= {v.lower() for _, r in rows for v in (r["employeeId"], r["userName"], r["email"]) if v}
    seen_ids: set[str] = set()
    faults = set()
    for line, row in rows:
        if not row["employeeId"]:
            faults.add((line, "employeeId", "required"))
        elif row["employeeId"] in seen_ids:
            faults.add((line, "employeeId", "duplicate"))
        seen_ids.add(row["employeeId"])
        if row["userName"].lower() in known_users:
            faults.add((line, "userName", "duplicate"))
        if not EMAIL.match(row["email"]):
            faults.add((line, "email", "invalid"))
        if row["manager"] and row["manager"].lower() not in identifiers:
            faults.add((line, "manager", "unknown"))
        if row["status"] not in USER_STATUSES:
            faults.add((line, "status", "invalid"))
        faults |= {(line, k, "too long") for k, v in row.items() if len(v) > 256}
    return faults


def test_bad_people_faults_are_on_the_stated_lines(people: list[dict[str, str]]) -> None:
    with open(SAMPLE / "bad_people.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [(reader.line_num, row) for row in reader]
    expected = _json("bad_people.expected.json")
    assert {(e["line"], e["field"], e["reason"]) for e in expected} == _row_faults(rows, people)
    assert len({e["line"] for e in expected}) == len(expected), "one fault per bad row"
    good_lines = {line for line, _ in rows} - {e["line"] for e in expected}
    assert len(good_lines) >= 3 and 9 <= len(rows) <= 14


def test_generator_is_deterministic_and_outputs_are_committed(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    counts = gen.generate(first)
    gen.generate(second)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert len(names) == 11 and counts["people"] == len(_csv_rows("people.csv"))
    for name in names:
        produced = (first / name).read_bytes()
        assert produced == (second / name).read_bytes(), f"{name} differs between two runs"
        assert produced == (SAMPLE / name).read_bytes(), f"{name} is stale: run python sample_data/generate.py"

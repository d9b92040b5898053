"""Pure parts of the Graph connector: attribute mapping, naming rules, passwords, bodies, settings, credentials."""
from __future__ import annotations

import pytest
from azure.identity.aio import ClientSecretCredential
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

from console.connectors import Connector, make_target, settings_for
from console.connectors.graph import SETTINGS
from console.connectors.graph.attrs import (
    account_attributes,
    generate_password,
    graph_user,
    group_mail_nickname,
    upn_local_part,
)
from console.connectors.graph.auth import ClientCredentialsToken, graph_scope, make_credential, token_endpoint
from console.errors import ConfigError
from console.models import Application, User
from console.sandbox.graph_errors import GraphFault
from console.sandbox.graph_schema import check_nickname, check_password, check_upn


def person(**overrides: object) -> User:
    values: dict[str, object] = {"employeeId": "E7", "userName": "jose.muller", "givenName": "José",
                                 "familyName": "Müller", "emails": ["jose.muller@contoso.com"], "department": "Ops",
                                 "title": "Lead"}
    return User(**{**values, **overrides})  # type: ignore[arg-type]


def test_account_attributes_are_flat_and_readable() -> None:
    attrs = account_attributes(person(), "sso", upn_suffix="contoso.com", usage_location="de")
    assert attrs == {"userPrincipalName": "jose.muller@contoso.com", "displayName": "José Müller", "givenName": "José",
                     "surname": "Müller", "mailNickname": "jose.muller", "mail": "jose.muller@contoso.com",
                     "department": "Ops", "jobTitle": "Lead", "employeeId": "E7", "usageLocation": "DE",
                     "accountEnabled": True}
    check_upn(attrs["userPrincipalName"], {"contoso.com"})
    skus = ["f30db892-07e9-47e9-837c-80727f46fd3d", "6fd2c87f-b296-42f0-b197-1e91e994b900"]
    assert account_attributes(person(), "sso", license_skus=skus)["licenses"] == sorted(skus)
    assert account_attributes(person(status="leaver"), "sso", license_skus=skus)["licenses"] == []


def test_mail_only_in_a_tenant_domain_and_leavers_are_disabled() -> None:
    outside = account_attributes(person(emails=["jose@gmail.com"], status="leaver"), "password",
                                 upn_suffix="contoso.com")
    assert "mail" not in outside and "usageLocation" not in outside and outside["accountEnabled"] is False
    no_suffix = account_attributes(person(userName="jm", emails=["jm@fabrikam.com"]), "sso")
    assert no_suffix["userPrincipalName"] == "jm@fabrikam.com" and no_suffix["mail"] == "jm@fabrikam.com"


@pytest.mark.parametrize(("name", "local"), [
    ("Zoë Łukasiewicz", "Zoe.Lukasiewicz"), ("søren@old.example", "soren"), ("山田.太郎", "user"),
    ("a..b.", "a.b"), ("o'brien", "o'brien"),
])
def test_upn_local_parts_are_ascii_and_valid(name: str, local: str) -> None:
    got = upn_local_part(name) or "user"
    assert got == local
    check_upn(f"{got}@contoso.com", {"contoso.com"})


def test_group_mail_nicknames_obey_graph_rules() -> None:
    for name in ("Sales & Ops. (EU)", "Ärzte: Team [Nord]", "日本語", "x" * 200, '@();:<>,"\\'):
        nickname = group_mail_nickname(name)
        check_nickname(nickname, "Group")
    assert group_mail_nickname("Sales & Ops. (EU)") == "Sales-Ops-EU"


def test_generated_passwords_meet_entra_complexity() -> None:
    passwords = {generate_password() for _ in range(300)}
    assert len(passwords) == 300
    for password in passwords:
        check_password(password, "jose.muller")
    with pytest.raises(GraphFault):
        check_password("alllowercase", "")


def test_update_body_clears_empty_values_with_json_null() -> None:
    writer = JsonSerializationWriter()
    writer.write_object_value(None, graph_user({"department": "", "jobTitle": "Boss", "unknown": 1}, creating=False))
    assert writer.get_serialized_content() == b'{"@odata.type": "#microsoft.graph.user", "department": null, ' \
                                              b'"jobTitle": "Boss"}'
    create = graph_user({"department": "", "displayName": "A"}, creating=True, password="Pw-123456789a")
    assert create.department is None and create.password_profile.force_change_password_next_sign_in is True


def test_settings_cover_the_documented_names() -> None:
    names = {s.name for s in SETTINGS}
    assert names >= {"tenant_id", "client_id", "client_secret", "base_url", "authority", "usage_location",
                     "license_skus", "upn_suffix", "revoke_sessions", "remove_licenses", "delete_after_days"}
    assert [s.name for s in SETTINGS if s.secret] == ["client_secret"]
    assert settings_for("graph") == SETTINGS


def test_make_checks_settings_without_network() -> None:
    good = Application(name="m", kind="graph", settings={"tenant_id": "t", "client_id": "c"},
                       secrets={"client_secret": "env:X"})
    assert isinstance(make_target(good), Connector)
    with pytest.raises(ConfigError, match="tenant_id"):
        make_target(Application(name="m", kind="graph", settings={"client_id": "c"}))
    with pytest.raises(ConfigError, match="skuId"):
        make_target(Application(name="m", kind="graph", settings={**good.settings, "license_skus": ["E3"]}))


async def test_credentials_azure_identity_for_entra_and_own_for_a_local_sandbox() -> None:
    assert graph_scope("https://graph.microsoft.com/v1.0") == "https://graph.microsoft.com/.default"
    assert graph_scope("https://graph.microsoft.us/v1.0") == "https://graph.microsoft.us/.default"
    assert graph_scope("http://127.0.0.1:9/v1.0") == "https://graph.microsoft.com/.default"
    assert token_endpoint("login.microsoftonline.com", "t1") == "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
    assert token_endpoint("http://127.0.0.1:9/t/oauth2/v2.0/token", "x") == "http://127.0.0.1:9/t/oauth2/v2.0/token"
    real = make_credential("https://login.microsoftonline.com", "tenant", "client", lambda: "secret")
    local = make_credential("http://127.0.0.1:9", "tenant", "client", lambda: "secret")
    try:
        assert isinstance(real, ClientSecretCredential) and isinstance(local, ClientCredentialsToken)
    finally:
        await real.close()
        await local.close()
    with pytest.raises(ConfigError, match="https"):
        make_credential("http://login.example.com", "tenant", "client", lambda: "secret")


async def test_plain_http_graph_outside_localhost_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDCONSOLE_TEST_GRAPH_SECRET", "s3cret-value")
    app = Application(name="m", kind="graph", secrets={"client_secret": "env:IDCONSOLE_TEST_GRAPH_SECRET"},
                      settings={"tenant_id": "t", "client_id": "c", "base_url": "http://graph.example.test/v1.0"})
    with pytest.raises(ConfigError, match="https"):  # refused before any connector exists (connectors/tls.py)
        make_target(app)

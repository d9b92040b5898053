"""AD application settings, operator warnings and the pure person → AD attribute map (no DC needed)."""
from __future__ import annotations

import pytest

from console.connectors import Mode, make_target, settings_for
from console.connectors.ad.config import account_attributes, parse_config, warnings
from console.errors import ConfigError, DryRunBlocked
from console.models import Application, User

BASE = {"url": "ldaps://dc1.corp.example", "bind_user": "svc@corp.example", "base_dn": "DC=corp,DC=example",
        "users_ou": "OU=Staff"}


def app(**settings: object) -> Application:
    return Application(name="corp-ad", kind="ad", settings={**BASE, **settings}, secrets={"password": "env:AD_PW"})


def test_settings_are_declared_for_the_cli_and_forms() -> None:
    by_name = {s.name: s for s in settings_for("ad")}
    assert by_name["password"].secret and by_name["url"].default == "ldaps://"
    assert by_name["verify_tls"].kind == "bool" and by_name["verify_tls"].default is True
    assert {"bind_user", "base_dn", "users_ou", "disabled_ou", "groups_ou", "upn_suffix", "mail_domain", "ca_file",
            "start_tls", "sam_format", "password_file"} <= set(by_name)


def test_defaults_are_derived_from_the_base_dn() -> None:
    cfg = parse_config(app())
    assert (cfg.host, cfg.port, cfg.use_ssl, cfg.verify_tls) == ("dc1.corp.example", 636, True, True)
    assert cfg.users_ou == "OU=Staff,DC=corp,DC=example" and cfg.groups_ou == cfg.users_ou
    assert cfg.disabled_ou == "" and cfg.upn_suffix == "corp.example" and cfg.sam_format == "{f}{last}"
    cfg = parse_config(app(url="ldap://dc1:3890", start_tls="true", verify_tls="false", disabled_ou="OU=Gone"))
    assert (cfg.port, cfg.use_ssl, cfg.start_tls, cfg.verify_tls) == (3890, False, True, False)
    assert cfg.disabled_ou == "OU=Gone,DC=corp,DC=example"


@pytest.mark.parametrize(("settings", "message"), [
    ({"url": ""}, "missing AD settings url"),
    ({"url": "https://dc1"}, "is not an LDAP URL"),
    ({"start_tls": True}, "start_tls needs an ldap:// URL"),
    ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
    ({"sam_format": "{nickname}"}, "unknown tokens"),
    ({"timeout": "soon"}, "not a number"),
])
def test_bad_settings_say_what_to_fix(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(app(**settings))


def test_missing_password_reference_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no bind password"):
        parse_config(Application(name="corp-ad", kind="ad", settings=BASE))


def test_warnings_name_every_insecure_or_lossy_choice() -> None:
    notes = warnings(app(verify_tls=False, url="ldap://dc1"))
    assert any("verify_tls=False" in n for n in notes) and any("plain ldap://" in n for n in notes)
    assert any("password_file" in n for n in notes) and any("disabled_ou" in n for n in notes)
    assert warnings(app(password_file="/root/pw.tsv", disabled_ou="OU=Gone")) == []


def test_account_attributes_map_a_person_to_flat_ad_attributes() -> None:
    cfg = parse_config(app(mail_domain="corp.example", upn_suffix="corp.example"))
    user = User(employeeId="E1", userName="jane.doe", givenName="Jane", familyName="Doe", department="Sales",
                title="Rep", emails=["jane@home.example", "jane.doe@corp.example", "jd@corp.example"], manager="E9")
    assert account_attributes(user, cfg) == {
        "sAMAccountName": "jdoe", "userPrincipalName": "jane.doe@corp.example", "cn": "Jane Doe",
        "displayName": "Jane Doe", "givenName": "Jane", "sn": "Doe", "mail": "jane.doe@corp.example",
        "proxyAddresses": ["SMTP:jane.doe@corp.example", "smtp:jd@corp.example"], "department": "Sales",
        "title": "Rep", "employeeID": "E1",
    }


def test_mail_falls_back_to_the_upn_prefix_in_the_mail_domain_or_to_the_first_email() -> None:
    user = User(employeeId="E2", userName="Jürgen.Groß", givenName="Jürgen", familyName="Groß", emails=["jg@gmail.com"])
    with_domain = account_attributes(user, parse_config(app(mail_domain="corp.example")))
    assert with_domain["mail"] == "jurgen.gross@corp.example" and with_domain["sAMAccountName"] == "jgross"
    without = account_attributes(user, parse_config(app()))
    assert without["mail"] == "jg@gmail.com" and without["proxyAddresses"] == ["SMTP:jg@gmail.com"]
    nobody = account_attributes(User(employeeId="E3", userName="x", givenName="X", familyName="Y"), parse_config(app()))
    assert nobody["mail"] == "" and nobody["proxyAddresses"] == []


def test_non_latin_names_keep_their_display_name_but_get_an_ascii_logon() -> None:
    user = User(employeeId="10042", userName="李小龙", givenName="小龙", familyName="李", displayName="李小龙")
    attrs = account_attributes(user, parse_config(app(mail_domain="corp.example")))
    assert attrs["sAMAccountName"] == "u10042" and attrs["userPrincipalName"] == "u10042@corp.example"
    assert attrs["cn"] == attrs["displayName"] == "李小龙" and attrs["mail"] == "u10042@corp.example"


async def test_the_connector_is_pure_until_used_and_refuses_writes_in_a_dry_run() -> None:
    connector = make_target(app(), mode=Mode.DRY_RUN)  # no network, no secret needed to build it
    attrs = connector.account_attributes(User(employeeId="E1", userName="a", givenName="A", familyName="B"), "sso")
    assert connector.account_name(attrs) == "a@corp.example"
    with pytest.raises(DryRunBlocked):
        await connector.create_user(attrs)

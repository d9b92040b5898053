"""The AD connector's user lifecycle against a real Samba 4 AD DC."""
from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE, NONE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPInvalidCredentialsResult

from console.connectors.ad import ADConnector
from console.errors import NotFound, Rejected
from console.models import Application, User

pytestmark = pytest.mark.samba


def person(employee_id: str, given: str, family: str, **kw: object) -> User:
    user_name = str(kw.pop("userName", f"{given}.{family}".lower().replace(" ", "")))
    return User(employeeId=employee_id, userName=user_name, givenName=given, familyName=family, **kw)  # type: ignore[arg-type]


def passwords(app: Application) -> list[list[str]]:
    text = Path(app.settings["password_file"]).read_text()
    return [line.split("\t") for line in text.splitlines()]


def bind_outcome(samba_dc, upn: str, password: str) -> str:  # type: ignore[no-untyped-def]
    """"ok", "must change" (right password, pwdLastSet=0: AD's data 773) or "wrong" (data 52e)."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(samba_dc.ca_file))
    server = Server(samba_dc.host, port=636, use_ssl=True, tls=tls, get_info=NONE)
    try:
        Connection(server, user=upn, password=password, auto_bind=True, raise_exceptions=True).unbind()
        return "ok"
    except LDAPInvalidCredentialsResult as exc:
        return "must change" if "data 773" in str(exc.message) else "wrong"


async def test_create_adds_an_enabled_account_whose_password_reaches_only_the_password_file(
        ad: ADConnector, ad_app, ad_check, samba_dc, ad_ous) -> None:  # type: ignore[no-untyped-def]
    attrs = ad.account_attributes(person("E100", "Jane", "Doe", emails=["jane.doe@idc.test"], department="Sales",
                                         title="Rep"), "password")
    account = await ad.create_user(attrs)

    entry = ad_check.entry(account.uid, ["sAMAccountName", "userAccountControl", "mail", "proxyAddresses",
                                         "employeeID", "department", "pwdLastSet"])
    assert entry is not None and entry["dn"] == f"CN=Jane Doe,{ad_ous['users']}"
    assert entry["sAMAccountName"] == ["jdoe"]
    assert int(entry["userAccountControl"][0]) == 512  # enabled normal account
    assert entry["mail"] == ["jane.doe@idc.test"] and entry["proxyAddresses"] == ["SMTP:jane.doe@idc.test"]
    assert entry["employeeID"] == ["E100"] and entry["department"] == ["Sales"]
    assert account.active and account.name == "jane.doe@idc.test"

    [(when, sam, upn, password)] = passwords(ad_app)
    assert (sam, upn) == ("jdoe", "jane.doe@idc.test")
    assert stat.S_IMODE(Path(ad_app.settings["password_file"]).stat().st_mode) == 0o600
    assert password not in repr(account)
    assert bind_outcome(samba_dc, upn, password) == "must change"  # the DC holds it; first logon must change it
    assert bind_outcome(samba_dc, upn, password + "x") == "wrong"


async def test_rerun_adopts_the_existing_account_instead_of_duplicating(ad: ADConnector, ad_app, ad_check,
                                                                         ad_ous) -> None:  # type: ignore[no-untyped-def]
    attrs = ad.account_attributes(person("E200", "John", "Smith"), "password")
    first = await ad.create_user(attrs)
    again = await ad.create_user(attrs)

    assert again.uid == first.uid
    assert len(ad_check.find(ad_ous["root"], "(employeeID=E200)")) == 1
    assert len(passwords(ad_app)) == 1  # no second password for an adopted account


async def test_namesakes_get_jdoe_then_jdoe2_and_a_distinct_cn(ad: ADConnector, ad_check) -> None:  # type: ignore[no-untyped-def]
    a = await ad.create_user(ad.account_attributes(person("E301", "John", "Doe", userName="john.doe"), "password"))
    b = await ad.create_user(ad.account_attributes(person("E302", "John", "Doe", userName="john.doe2"), "password"))

    assert a.attributes["sAMAccountName"] == "jdoe" and b.attributes["sAMAccountName"] == "jdoe2"
    assert a.uid != b.uid
    assert b.attributes["dn"].startswith("CN=John Doe (jdoe2),")


async def test_long_names_are_cut_to_20_characters_also_when_numbered(ad: ADConnector) -> None:
    long = person("E401", "Maximilian", "Wolfeschlegelsteinhausenberger")
    a = await ad.create_user(ad.account_attributes(long, "password"))
    b = await ad.create_user(ad.account_attributes(person("E402", "Maria", "Wolfeschlegelsteinhausenberger"),
                                                   "password"))
    assert a.attributes["sAMAccountName"] == "mwolfeschlegelsteinh"
    assert b.attributes["sAMAccountName"] == "mwolfeschlegelstein2"
    assert all(len(x.attributes["sAMAccountName"]) <= 20 for x in (a, b))


async def test_update_writes_only_changes_and_renames_on_display_name(ad: ADConnector, ad_check,
                                                                      ad_ous) -> None:  # type: ignore[no-untyped-def]
    user = person("E500", "Ann", "Lee", emails=["ann.lee@idc.test"], title="Engineer")
    account = await ad.create_user(ad.account_attributes(user, "password"))
    ad_check.conn.modify(account.attributes["dn"], {"telephoneNumber": [(MODIFY_REPLACE, ["+1 555"])]})

    await ad.update_user(account.uid, {"displayName": "Ann Lee-Park", "sn": "Lee-Park", "title": ""})

    entry = ad_check.entry(account.uid, ["displayName", "sn", "title", "telephoneNumber", "cn"])
    assert entry["dn"] == f"CN=Ann Lee-Park,{ad_ous['users']}"
    assert entry["sn"] == ["Lee-Park"] and "title" not in entry  # cleared
    assert entry["telephoneNumber"] == ["+1 555"]  # untouched attribute stays


async def test_mail_change_keeps_the_old_address_as_secondary(ad: ADConnector, ad_check) -> None:  # type: ignore[no-untyped-def]
    account = await ad.create_user(ad.account_attributes(person("E550", "Bo", "Ek", emails=["bo@idc.test"]), "sso"))
    legacy = ["SMTP:bo@idc.test", "X500:/o=Org/cn=bo"]
    ad_check.conn.modify(account.attributes["dn"], {"proxyAddresses": [(MODIFY_REPLACE, legacy)]})

    await ad.update_user(account.uid, {"mail": "bo.ek@idc.test", "proxyAddresses": ["SMTP:bo.ek@idc.test"]})

    entry = ad_check.entry(account.uid, ["mail", "proxyAddresses"])
    assert entry["mail"] == ["bo.ek@idc.test"]
    assert sorted(entry["proxyAddresses"]) == sorted(["SMTP:bo.ek@idc.test", "smtp:bo@idc.test", "X500:/o=Org/cn=bo"])


async def test_deactivate_keeps_other_uac_bits_moves_and_drops_groups_then_reactivate_restores(
        ad: ADConnector, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    account = await ad.create_user(ad.account_attributes(person("E600", "Cy", "Vo"), "password"))
    ad_check.conn.modify(account.attributes["dn"], {"userAccountControl": [(MODIFY_REPLACE, ["66048"])]})  # + DONT_EXPIRE
    sales = await ad.create_group("Sales")
    ops = await ad.create_group("Ops")
    await ad.add_members(sales.uid, [account.uid])
    await ad.add_members(ops.uid, [account.uid])

    remembered = await ad.deactivate_user(account.uid)

    entry = ad_check.entry(account.uid, ["userAccountControl", "memberOf"])
    assert int(entry["userAccountControl"][0]) == 66050
    assert entry["dn"] == f"CN=Cy Vo,{ad_ous['disabled']}"
    assert "memberOf" not in entry
    assert sorted(remembered["groups"]) == sorted([sales.uid, ops.uid])
    assert not (await ad.get_user(account.uid)).active

    await ad.reactivate_user(account.uid, remembered)

    entry = ad_check.entry(account.uid, ["userAccountControl", "memberOf"])
    assert int(entry["userAccountControl"][0]) == 66048
    assert entry["dn"] == f"CN=Cy Vo,{ad_ous['users']}"
    assert sorted(entry["memberOf"]) == sorted([f"CN=Ops,{ad_ous['groups']}", f"CN=Sales,{ad_ous['groups']}"])


async def test_deactivate_twice_is_harmless(ad: ADConnector, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    account = await ad.create_user(ad.account_attributes(person("E650", "Di", "Wu"), "password"))
    await ad.deactivate_user(account.uid)
    again = await ad.deactivate_user(account.uid)
    assert "ou" not in again  # already in the disabled OU: reactivation falls back to the users OU
    await ad.reactivate_user(account.uid, again)
    assert ad_check.entry(account.uid, ["cn"])["dn"] == f"CN=Di Wu,{ad_ous['users']}"


async def test_delete_removes_the_account_and_is_idempotent(ad: ADConnector, ad_check) -> None:  # type: ignore[no-untyped-def]
    account = await ad.create_user(ad.account_attributes(person("E700", "Ed", "Ma"), "password"))
    await ad.delete_user(account.uid)
    assert ad_check.entry(account.uid, ["cn"]) is None
    await ad.delete_user(account.uid)  # already gone: no error
    with pytest.raises(NotFound):
        await ad.update_user(account.uid, {"title": "x"})


async def test_find_user_by_employee_id_or_upn(ad: ADConnector) -> None:
    attrs = ad.account_attributes(person("E800", "Fay", "Li"), "password")
    assert await ad.find_user(attrs) is None
    created = await ad.create_user(attrs)
    found = await ad.find_user({"employeeID": "E800"})
    assert found is not None and found.uid == created.uid
    found = await ad.find_user({"userPrincipalName": attrs["userPrincipalName"].upper()})
    assert found is not None and found.uid == created.uid


async def test_upn_held_by_another_person_is_a_clear_rejection(ad: ADConnector) -> None:
    await ad.create_user(ad.account_attributes(person("E900", "Gus", "Ho", userName="gus"), "password"))
    with pytest.raises(Rejected, match="userPrincipalName gus@idc.test already belongs to another person"):
        await ad.create_user(ad.account_attributes(person("E901", "Gus", "Hu", userName="gus"), "password"))


async def test_adopting_an_account_created_outside_idconsole_updates_it(ad: ADConnector, ad_check,
                                                                          ad_ous) -> None:  # type: ignore[no-untyped-def]
    ad_check.conn.add(f"CN=Hal Ito,{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "hito", "givenName": "Hal", "sn": "Ito", "userAccountControl": 512 + 32})
    attrs = ad.account_attributes(person("E950", "Hal", "Ito", title="CTO"), "password")
    account = await ad.create_user(attrs)
    entry = ad_check.entry(account.uid, ["employeeID", "title", "sAMAccountName"])
    assert entry["sAMAccountName"] == ["hito"] and entry["employeeID"] == ["E950"] and entry["title"] == ["CTO"]


async def test_a_non_latin_name_gets_an_ascii_logon_and_keeps_its_display_name(ad: ADConnector, ad_check) -> None:  # type: ignore[no-untyped-def]
    user = User(employeeId="10042", userName="李小龙", givenName="小龙", familyName="李", displayName="李小龙")
    account = await ad.create_user(ad.account_attributes(user, "password"))
    entry = ad_check.entry(account.uid, ["sAMAccountName", "userPrincipalName", "cn", "givenName"])
    assert entry["sAMAccountName"] == ["u10042"] and entry["userPrincipalName"] == ["u10042@idc.test"]
    assert entry["cn"] == ["李小龙"] and entry["givenName"] == ["小龙"]
    assert (await ad.find_user({"employeeID": "10042"})).uid == account.uid


async def test_an_account_is_adopted_by_employee_id_even_after_a_userName_change(ad: ADConnector, ad_check,
                                                                                  ad_ous) -> None:  # type: ignore[no-untyped-def]
    ad_check.conn.add(f"CN=Rita Old,{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "rold", "employeeID": "R1", "userPrincipalName": "rita.old@idc.test",
                       "userAccountControl": 512 + 32})
    attrs = ad.account_attributes(person("R1", "Rita", "New"), "password")
    account = await ad.create_user(attrs)
    entry = ad_check.entry(account.uid, ["sAMAccountName", "userPrincipalName", "sn"])
    assert entry["sAMAccountName"] == ["rold"]  # logon name kept
    assert entry["userPrincipalName"] == ["rita.new@idc.test"] and entry["sn"] == ["New"]
    assert entry["dn"] == f"CN=Rita New,{ad_ous['users']}"


async def test_after_a_delete_the_same_person_is_created_anew(ad: ADConnector) -> None:
    attrs = ad.account_attributes(person("D1", "Dee", "Again"), "password")
    first = await ad.create_user(attrs)
    await ad.delete_user(first.uid)
    second = await ad.create_user(attrs)
    assert second.uid != first.uid and second.active


async def test_the_eleventh_namesake_gets_jdoe11(ad: ADConnector, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    for n in ["", *range(2, 11)]:
        ad_check.conn.add(f"CN=taken{n},{ad_ous['root']}", ["top", "person", "organizationalPerson", "user"],
                          {"sAMAccountName": f"tnamesake{n}", "userAccountControl": 514})
    account = await ad.create_user(ad.account_attributes(person("T11", "Tom", "Namesake"), "password"))
    assert account.attributes["sAMAccountName"] == "tnamesake11"


async def test_a_person_the_index_does_not_know_is_created_without_a_live_look_up(ad: ADConnector,
                                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    await ad.create_user(ad.account_attributes(person("K1", "Kim", "Ode"), "password"))  # the index is read
    looked_up: list[str] = []
    lookup = ad.users.lookup
    monkeypatch.setattr(ad.users, "lookup", lambda conn, attrs: looked_up.append(attrs["employeeID"]) or lookup(conn, attrs))
    created = await ad.create_user(ad.account_attributes(person("K2", "Kai", "Pym"), "password"))
    assert looked_up == [] and not created.adopted
    again = await ad.create_user(ad.account_attributes(person("K2", "Kai", "Pym"), "password"))
    assert looked_up == ["K2"] and again.adopted and again.uid == created.uid  # known to the index: looked up


async def test_an_account_created_outside_after_the_index_was_read_is_still_adopted(
        ad: ADConnector, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    await ad.create_user(ad.account_attributes(person("L1", "Lea", "Fox"), "password"))  # the index is read
    ad_check.conn.add(f"CN=Ian Ray,{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "iray", "givenName": "Ian", "sn": "Ray", "userAccountControl": 512 + 32})
    account = await ad.create_user(ad.account_attributes(person("L2", "Ian", "Ray"), "password"))
    assert account.adopted
    assert ad_check.entry(account.uid, ["sAMAccountName", "employeeID"])["employeeID"] == ["L2"]


async def test_a_upn_taken_outside_after_the_index_was_read_is_still_a_clear_rejection(
        ad: ADConnector, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    await ad.create_user(ad.account_attributes(person("M1", "Mo", "Fox"), "password"))  # the index is read
    ad_check.conn.add(f"CN=Other Person,{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "oper", "employeeID": "M9", "userPrincipalName": "max@idc.test",
                       "userAccountControl": 512 + 32})
    with pytest.raises(Rejected, match="userPrincipalName max@idc.test already belongs to another person"):
        await ad.create_user(ad.account_attributes(person("M2", "Max", "Hu", userName="max"), "password"))


@pytest.mark.parametrize("who", [person("N1", "Nina", "Ödegård", title="Dev", department="R&D"),
                                 person("N2", "小龙", "李", userName="李小龙", displayName="李小龙"),
                                 person("N3", "Olu", "Ade", emails=["olu@idc.test", "o.ade@idc.test"], title="")])
async def test_a_created_account_is_what_the_dc_holds(ad: ADConnector, who: User) -> None:
    """The create reads back only the objectGUID; the account it returns equals a full read of the entry."""
    created = await ad.create_user(ad.account_attributes(who, "password"))
    held = await ad.get_user(created.uid)
    assert (created.uid, created.name, created.active) == (held.uid, held.name, held.active)
    assert created.attributes == held.attrs

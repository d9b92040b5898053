"""Values with LDAP filter and DN metacharacters go through the connector intact on a real Samba DC."""
from __future__ import annotations

import pytest

from console.connectors.ad import ADConnector
from console.models import User

pytestmark = pytest.mark.samba

AWKWARD_NAMES = [
    "Bob (Admin)",
    "Smith, John",
    "a*b(c)\\d",
    'x=y+z"q<r>;s',
    "#1 Fan",
    "  Lead and trail  ",
    "Ünïcødé Ωmega",
    "Mallory,CN=Users",  # unescaped, these would name another container or a multi-valued RDN
    "Eve+sn=Evil",
    "x\\,y=z",
]


@pytest.mark.parametrize("display", AWKWARD_NAMES)
async def test_awkward_display_names_are_created_found_renamed_and_deleted(ad: ADConnector, ad_check, ad_ous,
                                                                           display: str) -> None:  # type: ignore[no-untyped-def]
    user = User(employeeId="K-1", userName="k1", givenName="Kay", familyName="One", displayName=display)
    attrs = ad.account_attributes(user, "password")
    account = await ad.create_user(attrs)

    entry = ad_check.entry(account.uid, ["cn", "displayName"])
    assert entry["cn"] == [display] and entry["displayName"] == [display]
    assert entry["dn"].endswith(f",{ad_ous['users']}")
    assert (await ad.find_user(attrs)).uid == account.uid
    assert (await ad.create_user(attrs)).uid == account.uid  # adopted, not duplicated

    renamed = f"{display} (renamed)"
    await ad.update_user(account.uid, {"displayName": renamed})
    assert ad_check.entry(account.uid, ["cn"])["cn"] == [renamed]

    remembered = await ad.deactivate_user(account.uid)  # moves keep the escaped RDN valid
    await ad.reactivate_user(account.uid, remembered)
    assert ad_check.entry(account.uid, ["cn"])["dn"].endswith(f",{ad_ous['users']}")

    await ad.delete_user(account.uid)
    assert ad_check.entry(account.uid, ["cn"]) is None


@pytest.mark.parametrize("employee_id", ["*", "E(1)", "E\\2", "E*)(cn=*", "E)(|(sn=*"])
async def test_filter_metacharacters_in_employee_ids_match_only_themselves(ad: ADConnector, ad_check, ad_ous,
                                                                           employee_id: str) -> None:  # type: ignore[no-untyped-def]
    bystander = await ad.create_user(ad.account_attributes(
        User(employeeId="PLAIN1", userName="plain", givenName="Pat", familyName="Plain"), "password"))
    attrs = ad.account_attributes(User(employeeId=employee_id, userName="meta", givenName="Max", familyName="Meta"),
                                  "password")

    assert await ad.find_user({"employeeID": employee_id}) is None  # "*" must not match the bystander
    account = await ad.create_user(attrs)

    assert account.uid != bystander.uid
    assert ad_check.entry(account.uid, ["employeeID"])["employeeID"] == [employee_id]
    assert (await ad.find_user({"employeeID": employee_id})).uid == account.uid
    assert len(ad_check.find(ad_ous["users"], "(objectClass=user)")) == 2


@pytest.mark.parametrize("name", ["R&D (EU)", "Sales, North", "Ops*", "a\\b", "=eq+plus", "#tag", " padded "])
async def test_awkward_group_names_are_created_adopted_and_deleted(ad: ADConnector, ad_check, ad_ous,
                                                                   name: str) -> None:  # type: ignore[no-untyped-def]
    other = await ad.create_group("Other group")
    group = await ad.create_group(name, "made by a test")

    assert group.uid != other.uid
    assert ad_check.entry(group.uid, ["cn"])["cn"] == [name]
    assert (await ad.create_group(name)).uid == group.uid  # adopted by name
    member = await ad.create_user(ad.account_attributes(
        User(employeeId="G1", userName="gm", givenName="Gil", familyName="Member"), "password"))
    await ad.add_members(group.uid, [member.uid])
    listed = {g.uid: g for g in [g async for g in ad.list_groups()]}
    assert listed[group.uid].name == name and listed[group.uid].members == [member.uid]

    await ad.delete_group(group.uid)
    assert ad_check.entry(group.uid, ["cn"]) is None
    assert ad_check.entry(other.uid, ["cn"]) is not None

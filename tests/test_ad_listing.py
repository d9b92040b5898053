"""Paged listing, concurrent creates and crash recovery of the AD connector on a real Samba DC."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.connectors.ad import ADConnector
from console.connectors.ad import connector as ad_module
from console.models import User

pytestmark = pytest.mark.samba


async def test_list_users_pages_through_users_and_disabled_ous(ad: ADConnector, ad_check, ad_ous,
                                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pages = []
    real_page = ad_module.page
    monkeypatch.setattr(ad_module, "page", lambda *args: pages.append(args[1]) or real_page(*args))
    for n in range(510):  # raw adds (fast): more than one page of 500
        ad_check.conn.add(f"CN=p{n},{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                          {"sAMAccountName": f"pg{ad_ous['root'][4:12]}{n}", "userAccountControl": 514})
    ad_check.conn.add(f"CN=gone,{ad_ous['disabled']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": f"pg{ad_ous['root'][4:12]}x", "userAccountControl": 514})
    ad_check.conn.add(f"CN=outside,{ad_ous['root']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": f"pg{ad_ous['root'][4:12]}o", "userAccountControl": 512 + 32})

    accounts = [a async for a in ad.list_users()]

    assert len(accounts) == 511 and len({a.uid for a in accounts}) == 511
    assert pages == [ad_ous["users"], ad_ous["users"], ad_ous["disabled"]]
    assert not any(a.attrs["cn"] == "outside" for a in accounts)  # only the managed OUs
    assert all(not a.active for a in accounts)


async def test_concurrent_creates_of_namesakes_never_collide_or_duplicate(ad: ADConnector, ad_check,
                                                                          ad_ous) -> None:  # type: ignore[no-untyped-def]
    people = [User(employeeId=f"N{n}", userName=f"nina.ng{n}", givenName="Nina", familyName="Ng") for n in range(6)]
    attrs = [ad.account_attributes(p, "password") for p in people]

    accounts = await asyncio.gather(*(ad.create_user(a) for a in attrs + attrs))  # every person twice, at once

    by_person = {}
    for person_attrs, account in zip(attrs + attrs, accounts, strict=True):
        by_person.setdefault(person_attrs["employeeID"], set()).add(account.uid)
    assert all(len(uids) == 1 for uids in by_person.values())
    sams = sorted(a.attributes["sAMAccountName"] for a in accounts[:6])
    assert sams == ["nng", "nng2", "nng3", "nng4", "nng5", "nng6"]
    assert len(ad_check.find(ad_ous["users"], "(objectClass=user)")) == 6


async def test_a_create_interrupted_after_the_add_is_finished_by_the_rerun(ad: ADConnector, ad_app, ad_check,
                                                                          ad_ous) -> None:  # type: ignore[no-untyped-def]
    carl = User(employeeId="C1", userName="carl", givenName="Carl", familyName="Cut")
    attrs = ad.account_attributes(carl, "password")
    ad_check.conn.add(f"CN=Carl Cut,{ad_ous['users']}", ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "ccut", "employeeID": "C1", "userAccountControl": 514})  # as a crash leaves it

    account = await ad.create_user(attrs)

    entry = ad_check.entry(account.uid, ["userAccountControl", "userPrincipalName"])
    assert int(entry["userAccountControl"][0]) == 512 and entry["userPrincipalName"] == ["carl@idc.test"]
    assert Path(ad_app.settings["password_file"]).read_text().count("\tccut\t") == 1


async def test_deactivated_account_is_adopted_but_not_silently_reenabled(ad: ADConnector, ad_app) -> None:  # type: ignore[no-untyped-def]
    attrs = ad.account_attributes(User(employeeId="L1", userName="lee", givenName="Lee", familyName="Left"), "password")
    account = await ad.create_user(attrs)
    await ad.deactivate_user(account.uid)

    again = await ad.create_user(attrs)

    assert again.uid == account.uid and not again.active  # the engine decides to reactivate
    assert Path(ad_app.settings["password_file"]).read_text().count("\n") == 1


async def test_members_add_and_remove_are_deltas_and_tolerate_repeats(ad: ADConnector, ad_check) -> None:  # type: ignore[no-untyped-def]
    group = await ad.create_group("Team")
    users = [await ad.create_user(ad.account_attributes(
        User(employeeId=f"M{n}", userName=f"m{n}", givenName="Mo", familyName=f"Em{n}"), "password")) for n in range(3)]
    uids = [u.uid for u in users]

    await ad.add_members(group.uid, uids[:2])
    await ad.add_members(group.uid, uids)  # two already members
    assert len(ad_check.entry(group.uid, ["member"])["member"]) == 3
    await ad.remove_members(group.uid, [uids[0]])
    await ad.remove_members(group.uid, [uids[0], uids[1]])  # one no longer a member
    [listed] = [g async for g in ad.list_groups() if g.uid == group.uid]
    assert listed.members == [uids[2]]

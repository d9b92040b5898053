"""One contract, three targets: the same scenarios against Atlassian (scim2-server), AD (Samba DC) and Graph
(the sandbox through msgraph-sdk). Other issues add their scenarios here."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from console.connectors import Connector, CreateResult, Mode, make_target
from console.errors import DryRunBlocked, ReadOnly
from console.models import Application, User

UPDATES = {"atlassian": {"displayName": "Ada L. King"}, "ad": {"department": "Research"},
           "graph": {"department": "Research"}}


@dataclass
class Peer:
    """A target under test: its application, how to build a connector, and what the real peer saw."""

    kind: str
    app: Application
    build: Callable[[Mode], Connector]
    state: Callable[[], Any]  # a snapshot of what the peer holds / was asked to write


def ada(n: int = 1) -> User:
    return User(employeeId=f"C{n}", userName=f"ada{n}", givenName="Ada", familyName=f"King{n}",
                emails=[f"ada{n}@corp.example"])


@pytest.fixture(params=["atlassian", "ad", "graph"])
def peer(request: pytest.FixtureRequest) -> Peer:
    kind = request.param
    if kind == "atlassian":
        app: Application = request.getfixturevalue("atlassian_app")
        app.features["delete"] = True
        faults = request.getfixturevalue("scim_faults")
        transport = faults()
        return Peer(kind, app, lambda mode: make_target(app, mode=mode, transport=transport),
                    lambda: [m for m in transport.methods() if m != "GET"])
    if kind == "ad":
        app = request.getfixturevalue("ad_app")
        check, ous = request.getfixturevalue("ad_check"), request.getfixturevalue("ad_ous")
        return Peer(kind, app, lambda mode: make_target(app, mode=mode),
                    lambda: sorted(str(e) for e in check.find(ous["root"], "(objectClass=*)", ["uSNChanged", "cn", "member"])))
    app = request.getfixturevalue("graph_app")
    sandbox = request.getfixturevalue("graph_sandbox")
    return Peer(kind, app, lambda mode: _fast(make_target(app, mode=mode)),
                lambda: [e["method"] for e in sandbox.requests() if e["method"] != "GET"])


def _fast(connector: Connector) -> Connector:
    connector.consistency_delays = (0.05, 0.1, 0.2, 0.4)  # type: ignore[attr-defined]
    return connector


@pytest.fixture
async def live(peer: Peer) -> AsyncIterator[Connector]:
    connector = peer.build(Mode.LIVE)
    yield connector
    await connector.aclose()


async def test_create_returns_a_typed_result_and_the_account_is_found(live: Connector) -> None:
    attrs = live.account_attributes(ada(), "password")
    result = await live.create_user(attrs)
    assert isinstance(result, CreateResult) and result.uid and not result.adopted
    assert "initial_password" not in result.attributes and "adopted" not in result.attributes
    assert "initial_password=" not in repr(result)
    found = await live.find_user(attrs)
    assert found is not None and found.uid == result.uid and found.active


async def test_a_second_create_adopts_the_existing_account(peer: Peer, live: Connector) -> None:
    attrs = live.account_attributes(ada(), "password")
    first = await live.create_user(attrs)
    other = peer.build(Mode.LIVE)
    try:
        again = await other.create_user(attrs)
    finally:
        await other.aclose()
    assert again.adopted and again.uid == first.uid and again.initial_password is None


async def test_update_deactivate_reactivate_and_delete(peer: Peer, live: Connector) -> None:
    attrs = live.account_attributes(ada(), "password")
    uid = (await live.create_user(attrs)).uid
    change = UPDATES[peer.kind]
    await live.update_user(uid, change)
    found = await live.find_user(attrs)
    assert found is not None and all(found.attrs.get(k) == v for k, v in change.items())
    remembered = await live.deactivate_user(uid)
    found = await live.find_user(attrs)
    assert found is not None and not found.active
    await live.reactivate_user(uid, remembered)
    found = await live.find_user(attrs)
    assert found is not None and found.active
    await live.delete_user(uid)
    gone = await live.find_user(attrs)
    assert gone is None or (peer.kind == "atlassian" and not gone.active)  # Atlassian: DELETE deactivates


async def test_group_create_and_member_deltas(live: Connector) -> None:
    uid = (await live.create_user(live.account_attributes(ada(), "password"))).uid
    group = await live.create_group("Contract team")
    await live.add_members(group.uid, [uid])
    await live.add_members(group.uid, [uid])  # already a member: fine
    assert [g.members for g in [g async for g in live.list_groups()] if g.uid == group.uid] == [[uid]]
    await live.remove_members(group.uid, [uid])
    assert [g.members for g in [g async for g in live.list_groups()] if g.uid == group.uid] == [[]]


@pytest.mark.parametrize("mode, refusal", [(Mode.DRY_RUN, DryRunBlocked), (Mode.READ_ONLY, ReadOnly)])
async def test_dry_run_and_read_only_write_nothing_to_the_peer(peer: Peer, mode: Mode, refusal: type) -> None:
    seeded = peer.build(Mode.LIVE)
    try:
        existing = (await seeded.create_user(seeded.account_attributes(ada(2), "password"))).uid
        group = (await seeded.create_group("Existing")).uid
    finally:
        await seeded.aclose()
    before = peer.state()
    connector = peer.build(mode)
    try:
        attrs = connector.account_attributes(ada(), "password")
        assert await connector.find_user(attrs) is None  # reads work
        writes = [connector.create_user(attrs), connector.update_user(existing, UPDATES[peer.kind]),
                  connector.deactivate_user(existing), connector.reactivate_user(existing, {}),
                  connector.delete_user(existing), connector.create_group("New"),
                  connector.add_members(group, [existing]), connector.remove_members(group, [existing]),
                  connector.delete_group(group)]
        for write in writes:
            with pytest.raises(refusal):
                await write
        assert (await connector.test()).ok
    finally:
        await connector.aclose()
    assert peer.state() == before  # not one write reached the peer

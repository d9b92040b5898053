"""A read-only plan reads the state through its index (issue 16): people's active flags and the links' state and
recorded inputs come from the index, a person's inputs are digested from their stored bytes, and people and links
are read only where the recorded inputs moved. The plan must be the very plan of the whole state: joiners, leavers,
changed people, people gone from the state, moves between policies (login methods), rule groups, a disabled
policy, deactivated links past their grace period, links without recorded inputs, group links, drift."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from console import clock
from console.connectors import Mode
from console.connectors.atlassian.payloads import ATTRIBUTES_VERSION, account_attributes
from console.models import Application, Group, Link, Policy, User
from console.rule_groups import recompute
from console.service import Service
from console.state_index import INDEX_NAME
from console.store import Store
from console.sync.engine import make_plan, open_connectors, target_apps, tools_of
from console.sync.plan import Plan, context_inputs, inputs_key, person_inputs, plan_from_state

SETTINGS = {"base_url": "http://127.0.0.1:9/directory"}  # never contacted: no remote read


def _app(name: str, **kw: Any) -> Application:
    return Application(name=name, kind="atlassian", secrets={"token": "env:UNSET"}, settings=dict(SETTINGS), **kw)


def _pushed(app: Application, user: User, method: str, *, inputs: bool = True, **kw: Any) -> Link:
    """A link as a sync leaves it: the attributes pushed and the inputs they were computed from."""
    attrs = account_attributes(user, method)
    recorded = inputs_key(person_inputs(user), context_inputs(app, ATTRIBUTES_VERSION, method)) if inputs else ""
    return Link(app=app.name, local_id=user.id, remote_id=f"{app.name}-{user.id}", remote_name=user.userName,
                attrs=attrs, inputs=recorded, **kw)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """60 people in two applications, most in step with their links, the rest in every case a plan knows."""
    people = [User(employeeId=f"E{i:03}", userName=f"user{i}", displayName=f"User {i}",
                   department=("Sales" if i % 3 == 0 else "Eng"), emails=[f"user{i}@example.com"]) for i in range(60)]
    with Store.open(tmp_path) as store:
        store.users.put_many(people)
        eng = [u.id for u in people if u.department == "Eng"]
        store.groups.put_many([Group(name="eng", members=eng[:30]),
                               Group(name="contractors", members=[u.id for u in people[50:]]),
                               Group(name="sales", rule='department == "Sales"'),
                               Group(name="nobody-enabled", members=[u.id for u in people[:5]])])
        recompute(store)
        jira = _app("jira", deprovision="delete", delete_grace_days=3,
                    features={"create": True, "update": True, "deactivate": True, "delete": True, "groups": True,
                              "memberships": True})
        wiki = _app("wiki")
        store.applications.put_many([jira, wiki])
        store.policies.put_many([
            Policy(name="jira-eng", app="jira", groups=["eng", "sales"]),
            Policy(name="jira-contractors", app="jira", groups=["contractors"], login_method="password"),
            Policy(name="wiki-all", app="wiki", groups=["eng", "contractors"]),
            Policy(name="wiki-off", app="wiki", groups=["nobody-enabled"], enabled=False)])
        store.flush()
        # links as the last sync left them, for everyone entitled then
        links: list[Link] = []
        contracted = {u.id for u in people[50:]}
        for app in (jira, wiki):
            for user in people:
                if app.name == "wiki" and user.id not in set(eng[:30]) | contracted:
                    continue
                method = "password" if app.name == "jira" and user.id in contracted else "sso"
                links.append(_pushed(app, user, method, inputs=user.employeeId != "E007"))  # E007: an older link
        store.links.put_many(links)
        groups = {g.name: g for g in store.groups}
        store.links.put_many([Link(app="jira", kind="group", local_id=groups["eng"].id, remote_id="g-eng",
                                   remote_name="eng", extra={"members": groups["eng"].members[:10]}),
                              Link(app="jira", kind="group", local_id=groups["nobody-enabled"].id, remote_id="g-x",
                                   remote_name="nobody-enabled")])
        store.flush()
        # since then: changed people, a leaver, a deleted person, a joiner, a move to the contractors, a deactivated
        # link past its grace period, a deleted link
        by_key = {u.employeeId: u for u in store.users}
        by_key["E001"].title = "Director"
        by_key["E002"].displayName = "Renamed Two"
        by_key["E004"].status = "leaver"
        store.users.put_many([by_key["E001"], by_key["E002"], by_key["E004"]])
        store.users.remove(by_key["E005"].id)
        joiner = User(employeeId="E100", userName="joiner", department="Eng")
        store.users.put(joiner)
        eng_group = store.groups.by_name("eng")
        contractors = store.groups.by_name("contractors")
        assert eng_group is not None and contractors is not None
        eng_group.members = [m for m in eng_group.members if m not in (by_key["E005"].id, by_key["E010"].id)]
        eng_group.members.append(joiner.id)
        contractors.members.append(by_key["E011"].id)  # two policies: sso (eng) wins over password
        store.groups.put_many([eng_group, contractors])
        recompute(store)
        past = (clock.now() - timedelta(days=10)).isoformat(timespec="seconds").replace("+00:00", "Z")
        gone = store.links.find("jira", by_key["E010"].id)
        deleted = store.links.find("wiki", by_key["E013"].id)
        assert gone is not None and deleted is not None
        gone.state, gone.updated = "deactivated", past
        deleted.state = "deleted"
        store.links.put_many([gone, deleted])
        store.flush()
    assert (tmp_path / INDEX_NAME).exists()
    return tmp_path


def _plan(store: Store, drift: dict[str, dict[str, dict[str, Any]]] | None = None) -> Plan:
    async def planned() -> Plan:
        apps = target_apps(store, None)
        connectors = open_connectors(apps, mode=Mode.READ_ONLY)
        try:
            return plan_from_state(store, apps, tools_of(connectors), drift=drift)
        finally:
            for connector in connectors.values():
                await connector.aclose()
    return asyncio.run(planned())


def _whole(home: Path) -> Store:
    store = Store.open(home, readonly=True)
    store.load_whole()
    assert not store.partial
    return store


def _same(partial: Plan, whole: Plan) -> None:
    assert orjson.dumps(partial.to_dict()) == orjson.dumps(whole.to_dict())
    assert [op.inputs for op in partial.operations] == [op.inputs for op in whole.operations]
    assert [{k: v[0] for k, v in a.settled.items()} for a in partial.apps] == \
        [{k: v[0] for k, v in a.settled.items()} for a in whole.apps]


def test_a_read_only_plan_through_the_index_is_the_plan_of_the_whole_state(home: Path) -> None:
    with Store.open(home, readonly=True) as store:
        assert store.partial
        partial = _plan(store)
        assert store.partial  # nothing was loaded whole
        read = store.users.loaded(), store.links.loaded()
        touched = {op.person_id for op in partial.operations if op.person_id} | {
            user_id for app_plan in partial.apps for user_id in app_plan.settled}
    with _whole(home) as store:
        whole = _plan(store)
    _same(partial, whole)
    actions = {(op.app, op.action, op.person or op.group) for op in whole.operations}
    for expected in [("jira", "update", "user1"), ("wiki", "update", "user2"), ("jira", "deactivate", "user4"),
                     ("jira", "create", "joiner"), ("jira", "delete", "user10"),
                     ("wiki", "create", "user13"), ("jira", "group_create", "contractors"),
                     ("jira", "group_delete", "nobody-enabled"), ("jira", "member_add", "eng")]:
        assert expected in actions
    assert any(op.action == "deactivate" and op.person_id and op.reason == "was deleted from the local state"
               for op in whole.operations)
    # read: only the people (and their links) whose inputs moved or who are deprovisioned, of 60 people, 95 links
    assert len(touched) < 20
    assert 0 < read[0] <= len(touched) and 0 < read[1] <= 2 * len(touched) + 2


def test_drift_plans_the_update_from_the_index_too(home: Path) -> None:
    with Store.open(home, readonly=True) as store:
        user = store.users.by_key("E020")
        assert user is not None
        drift = {"wiki": {user.id: {"displayName": "Changed in the target"}}}
        partial = _plan(store, drift)
        assert store.partial
    with _whole(home) as store:
        whole = _plan(store, drift)
    _same(partial, whole)
    assert any(op.app == "wiki" and op.action == "update" and op.person == "user20" and "drift" in op.reason
               for op in partial.operations)


def test_a_person_stored_otherwise_than_this_version_writes_them_is_computed_not_skipped(home: Path) -> None:
    """A person whose stored document is not what this version would write (a field missing, as in older states):
    their bytes digest to other inputs than the recorded ones, so their attributes are computed and compared (and
    found unchanged): never skipped on a digest that does not describe them."""
    with Store.open(home) as store:
        store.load_whole()  # the documents changed by hand, as a whole store holds them
        user = store.users.by_key("E020")
        assert user is not None
        tables = store.storage.tables()
        doc_id = next(k for k, d in tables["users"].items() if d["id"] == user.id)
        # read back as the default: the same person (a new document, as the store replaces any it changes)
        tables["users"][doc_id] = {k: v for k, v in tables["users"][doc_id].items() if k != "manager"}
        store.storage.touch()
        store.flush()
    with Store.open(home, readonly=True) as store:
        assert store.partial
        assert store.users.stored_inputs()[user.id] != person_inputs(user)
        partial = _plan(store)
        assert store.partial
        assert any(user.id in a.settled for a in partial.apps)  # computed, found in step
    with _whole(home) as store:
        whole = _plan(store)
    assert orjson.dumps(partial.to_dict()) == orjson.dumps(whole.to_dict())
    assert not any(op.person_id == user.id for op in partial.operations)


def test_the_cli_plan_and_a_writers_plan_equal_the_plan_of_the_whole_state(home: Path) -> None:
    with Service.open(home, readonly=True) as svc:
        partial = asyncio.run(svc.plan())
        assert svc.store.partial
    with Service.open(home) as svc:
        writer = asyncio.run(make_plan(svc.store))
        assert svc.store.partial  # a sync plans through the index too, and writes what it changed apart
    with _whole(home) as store:
        whole = asyncio.run(make_plan(store))
    _same(partial, whole)
    _same(writer, whole)


@pytest.mark.parametrize("apps", [("wiki",), ("jira", "wiki")])
def test_links_that_recorded_no_inputs_are_planned_through_the_index_one_person_at_a_time(
        home: Path, apps: tuple[str, ...]) -> None:
    """Before their first sync with inputs, most people's attributes are computed: each person and link is parsed
    from their stored bytes when computed and not kept (at 100k people a whole load held 1.29 GB), and the plan is
    the plan of the whole state."""
    with Store.open(home) as store:
        links = [link for link in store.links if link.kind == "user" and link.app in apps]
        for link in links:
            link.inputs = ""
        store.links.put_many(links)
    with Store.open(home, readonly=True) as store:
        assert store.partial
        partial = _plan(store)
        assert store.partial
        computed = sum(len(a.settled) for a in partial.apps)
        assert computed > 30  # in step, their inputs to record: computed, not skipped
        # what says each link was not saved since, not the link nor its attributes
        assert all(type(mark) is tuple for a in partial.apps for _, mark in a.settled.values())
        # kept: only the people deprovisioned (their reason), the links of people no longer entitled, group links
        gone = {op.person_id for op in partial.operations if op.action in ("deactivate", "delete")}
        assert store.users.loaded() <= len(gone) and store.links.loaded() < 16 < computed
    with _whole(home) as store:
        whole = _plan(store)
        assert computed == sum(len(a.settled) for a in whole.apps)
    _same(partial, whole)


def test_the_index_s_heads_and_active_flags_follow_each_write(home: Path) -> None:
    """A write patches the rows it changed: a read-only store then sees the new state, inputs and status."""
    with Store.open(home) as store:
        user = store.users.by_key("E031")
        assert user is not None
        link = store.links.find("jira", user.id)
        assert link is not None and link.state == "active" and link.inputs
        link.state, link.inputs = "deactivated", ""
        user.status = "leaver"
        store.links.put(link)
        store.users.put(user)
    with Store.open(home, readonly=True) as store:
        assert store.partial
        assert store.links.heads("jira")[user.id][:2] == ("deactivated", "")
        assert user.id not in store.users.active_ids()
        assert store.users.stored_inputs()[user.id] == person_inputs(user)
        assert "wiki" in store.links.apps() and "jira" in store.links.apps()
        assert store.partial
    with Store.open(home) as store:
        store.users.remove(user.id)  # a delete derives the whole table again
    with Store.open(home, readonly=True) as store:
        assert store.partial
        assert user.id not in store.users.active_ids() and user.id not in store.users.stored_inputs()
        assert store.links.heads("jira")[user.id][:2] == ("deactivated", "")


def test_the_index_s_digests_and_grouped_heads_are_those_of_the_whole_state(home: Path) -> None:
    """Index format 7 stores each person's digest and the links' heads grouped by application, patched by every
    write of the fixture (one process) and by a first write in another (seeded from the index): read through the
    index they are what the whole state gives."""
    with Store.open(home) as store:
        user = store.users.by_key("E051")
        assert user is not None
        user.title = "Seeded write"
        store.users.put(user)
        link = store.links.find("wiki", user.id)
        assert link is not None
        link.inputs = ""
        store.links.put(link)
    with Store.open(home, readonly=True) as store, _whole(home) as full:
        assert store.partial
        digests = store.users.stored_inputs()
        assert digests.keys() == {u.id for u in full.users}
        assert digests[user.id] == person_inputs(full.users.get(user.id))
        assert all(digests[u.id] == person_inputs(u) for u in full.users)  # each stored as this version writes it
        assert store.links.apps() == full.links.apps() == {"jira", "wiki"}
        for app in ("jira", "wiki"):
            for kind in ("user", "group"):
                assert {k: v[:2] for k, v in store.links.heads(app, kind).items()} == {
                    k: v[:2] for k, v in full.links.heads(app, kind).items()}
        assert store.links.heads("wiki")[user.id][1] == ""
        assert store.partial


def test_an_index_of_the_previous_format_is_read_as_absent_and_the_plan_is_the_same(home: Path) -> None:
    path = home / INDEX_NAME
    content = path.read_bytes()
    end = content.index(b"\n")
    header = orjson.loads(content[:end])
    assert header["format"] == 7
    path.write_bytes(orjson.dumps({**header, "format": 6}) + content[end:])
    with Store.open(home, readonly=True) as store:
        assert not store.partial  # parsed whole: never a plan from rows this version does not know
        old = _plan(store)
    path.write_bytes(content)
    with Store.open(home, readonly=True) as store:
        assert store.partial
        _same(_plan(store), old)


def test_a_person_stored_twice_is_planned_as_the_whole_state_reads_them(home: Path) -> None:
    """Two documents with one id (a state edited by hand): the last is the person, through the index as in a whole
    load — for who is active too."""
    with Store.open(home) as store:
        store.load_whole()  # the documents changed by hand, as a whole store holds them
        user = store.users.by_key("E020")
        assert user is not None
        tables = store.storage.tables()
        doc_id = next(k for k, d in tables["users"].items() if d["id"] == user.id)
        tables["users"]["9999"] = {**tables["users"][doc_id], "employeeId": "E920", "userName": "twin20",
                                   "emails": [], "status": "leaver"}
        store.storage.touch()
        store.flush()
    with Store.open(home, readonly=True) as store:
        assert store.partial
        assert user.id not in store.users.active_ids()
        partial = _plan(store)
    with _whole(home) as store:
        assert user.id not in store.users.active_ids()
        whole = _plan(store)
    _same(partial, whole)
    assert any(op.person_id == user.id and op.action == "deactivate" for op in whole.operations)

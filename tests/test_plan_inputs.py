"""The plan skips a person whose inputs are those their link recorded when last pushed (issue 16, follow-up):
no attributes computed for them. Every input that feeds the attributes still plans the update: the person, the
application's settings, the connector's code (`attributes_version`), the login method that policies and groups
decide, and drift found by a remote read; links that recorded no inputs compare attributes as before."""
from __future__ import annotations

from typing import Any

import pytest

from console.connectors.base import Capability
from console.models import Application, Group, Link, Policy, User
from console.service import Confirmation, Service
from console.store import Store
from console.sync.plan import context_inputs, inputs_key, person_inputs, plan_app, plan_from_state

ALL = frozenset(Capability) - {Capability.GROUPS}  # people only: groups are planned as before
VERSION = "1"


class Attrs:
    """A connector's `account_attributes` reading the application's settings, counting its calls."""

    def __init__(self, store: Store, *, suffix: str = "") -> None:
        self.store, self.suffix, self.calls = store, suffix, 0

    def __call__(self, user: User, login_method: str) -> dict[str, Any]:
        self.calls += 1
        app = self.store.applications.by_name("bb")
        assert app is not None
        return {"userName": f"{user.userName}{app.settings.get('suffix', '')}{self.suffix}",
                "department": user.department, "sso": login_method == "sso"}


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path)
    people = [User(employeeId=f"E{i}", userName=f"user{i}", department="Eng") for i in range(10)]
    store.users.put_many(people)
    store.groups.put_many([Group(name="eng", members=[u.id for u in people[:8]]),
                           Group(name="contractors", members=[u.id for u in people[8:]])])
    store.applications.put(Application(name="bb", kind="atlassian", settings={"suffix": "@a"}))
    store.policies.put_many([Policy(name="bb-eng", app="bb", groups=["eng"]),
                             Policy(name="bb-contractors", app="bb", groups=["contractors"], login_method="password")])
    yield store
    store.close()


def pushed(store: Store, version: str = VERSION) -> None:
    """Links as a sync of this version leaves them: the attributes and the inputs they were computed from."""
    app = store.applications.by_name("bb")
    assert app is not None
    attrs = Attrs(store)
    links = []
    for user in store.users.all():
        method = "password" if user.userName in ("user8", "user9") else "sso"
        links.append(Link(app="bb", local_id=user.id, remote_id=f"r-{user.id}", attrs=attrs(user, method),
                          inputs=inputs_key(person_inputs(user), context_inputs(app, version, method))))
    store.links.put_many(links)


def plan(store: Store, attrs: Attrs, version: str = VERSION, **kw: Any):  # type: ignore[no-untyped-def]
    app = store.applications.by_name("bb")
    assert app is not None
    return plan_app(store, app, attrs, ALL, attributes_version=version, **kw)


def updates(app_plan) -> dict[str, dict[str, list[Any]]]:  # type: ignore[no-untyped-def]
    return {op.person: op.changes for op in app_plan.operations if op.action == "update"}


def test_unchanged_people_are_skipped_without_computing_their_attributes(store):
    pushed(store)
    attrs = Attrs(store)
    assert plan(store, attrs).operations == []
    assert attrs.calls == 0


def test_without_an_attributes_version_every_person_is_computed(store):
    pushed(store)
    attrs = Attrs(store)
    assert plan(store, attrs, version="").operations == []
    assert attrs.calls == 10


def test_a_changed_person_is_computed_and_updated(store):
    pushed(store)
    user = next(u for u in store.users.all() if u.userName == "user3")
    user.department = "Sales"
    store.users.put(user)
    attrs = Attrs(store)
    assert updates(plan(store, attrs)) == {"user3": {"department": ["Eng", "Sales"]}}
    assert attrs.calls == 1


def test_changed_application_settings_recompute_everyone(store):
    pushed(store)
    app = store.applications.by_name("bb")
    app.settings["suffix"] = "@b"
    store.applications.put(app)
    attrs = Attrs(store)
    changed = updates(plan(store, attrs))
    assert len(changed) == 10 and changed["user0"] == {"userName": ["user0@a", "user0@b"]}
    assert attrs.calls == 10


def test_a_new_attributes_version_recomputes_everyone(store):
    pushed(store, version="1")
    attrs = Attrs(store, suffix=".v2")  # the connector's code changed what it computes
    assert len(updates(plan(store, attrs, version="1"))) == 0  # the version names the code: not bumped, not seen
    changed = updates(plan(store, attrs, version="2"))
    assert len(changed) == 10 and changed["user1"] == {"userName": ["user1@a", "user1@a.v2"]}


def test_a_login_method_changed_by_group_membership_is_updated(store):
    pushed(store)
    contractors = store.groups.by_name("contractors")
    eng = store.groups.by_name("eng")
    mover = contractors.members.pop()  # user9 joins eng (sso) and leaves contractors (password)
    eng.members.append(mover)
    store.groups.put_many([contractors, eng])
    attrs = Attrs(store)
    assert updates(plan(store, attrs)) == {"user9": {"sso": [False, True]}}
    assert attrs.calls == 1


def test_drift_found_by_a_remote_read_is_updated_although_the_inputs_are_unchanged(store):
    pushed(store)
    user = next(u for u in store.users.all() if u.userName == "user2")
    attrs = Attrs(store)
    app_plan = plan(store, attrs, drift={user.id: {"department": "Ops"}})
    assert updates(app_plan) == {"user2": {"department": ["Ops", "Eng"]}}
    assert app_plan.operations[0].reason == "changed in the target outside idconsole (drift)"


def test_links_without_recorded_inputs_compare_attributes(store):
    pushed(store)
    links = store.links.for_app("bb")
    for link in links:
        link.inputs = ""
    links[0].attrs = {**links[0].attrs, "department": "Old"}
    store.links.put_many(links)
    attrs = Attrs(store)
    app_plan = plan(store, attrs)
    assert attrs.calls == 10
    person = store.users.get(links[0].local_id)
    assert updates(app_plan) == {person.userName: {"department": ["Old", "Eng"]}}
    assert app_plan.operations[0].inputs == inputs_key(person_inputs(person),
                                                       context_inputs(store.applications.by_name("bb"), VERSION, "sso"))


def test_a_deactivated_link_with_recorded_inputs_is_reactivated(store):
    pushed(store)
    link = store.links.for_app("bb")[0]
    link.state = "deactivated"
    store.links.put(link)
    assert [op.action for op in plan(store, Attrs(store)).operations] == ["reactivate"]


def test_person_inputs_are_computed_once_per_plan_for_all_applications(store):
    pushed(store)
    store.applications.put(Application(name="other", kind="atlassian"))
    store.policies.put(Policy(name="other-eng", app="other", groups=["eng"]))
    apps = [store.applications.by_name("bb"), store.applications.by_name("other")]
    attrs = Attrs(store)
    result = plan_from_state(store, apps, {a.name: (attrs, ALL, lambda _: "", VERSION) for a in apps})
    assert [op.action for op in result.apps[0].operations] == []
    assert sorted(op.action for op in result.apps[1].operations) == ["create"] * 8
    assert attrs.calls == 8  # only the creates of `other`: the people of `bb` were skipped


# ---- with the engine and a real SCIM directory (scim2-server as Atlassian) --------------------------------------
SCIM_APP = "bitbucket-cloud"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def test_a_sync_records_the_inputs_and_drift_found_by_reconcile_is_still_updated(org_service, scim_directory):
    svc = org_service
    result = await svc.apply(await svc.plan(SCIM_APP), Confirmation(yes=True))
    assert result.ok, result.failures
    people = svc.in_scope(svc.policy("bitbucket-engineering"))
    links = [svc.links_of(person)[SCIM_APP] for person in people]
    assert all(link.inputs.startswith(person_inputs(person) + ".") for person, link in zip(people, links))
    assert (await svc.plan(SCIM_APP)).operations == []

    (account,) = scim_directory.users(userName=links[0].remote_name)
    with scim_directory.client() as client:
        body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Changed outside"}]}
        assert client.patch(f"/Users/{account['id']}", json=body).status_code == 200
    assert (await svc.plan(SCIM_APP)).operations == []  # no remote read: nothing known of the drift
    plan = await svc.plan(SCIM_APP, reconcile=True)
    (update,) = [op for op in plan.operations if op.action == "update"]
    assert update.person_id == people[0].id and update.changes["title"][0] == "Changed outside"
    assert (await svc.apply(plan, Confirmation(yes=True))).ok
    assert scim_directory.users(userName=links[0].remote_name)[0]["title"] == people[0].title

    svc.edit_user(people[1].userName, department="Moved")  # a mover after the inputs were recorded
    (update,) = (await svc.plan(SCIM_APP)).operations
    assert update.person_id == people[1].id and update.changes == {"department": [people[1].department, "Moved"]}


def test_a_plan_lists_up_to_date_people_whose_link_recorded_other_inputs(store):
    pushed(store)
    links = store.links.for_app("bb")
    for link in links[:4]:
        link.inputs = ""  # links older than `Link.inputs`
    store.links.put_many(links[:4])
    app_plan = plan(store, Attrs(store))
    assert app_plan.operations == []
    assert sorted(app_plan.settled) == sorted(link.local_id for link in links[:4])
    assert all(attrs is link.attrs for link in links[:4] for _, attrs in [app_plan.settled[link.local_id]])


async def synced_without_inputs(svc: Service) -> list[Link]:
    """Sync every account, then drop the inputs recorded on the links (as a state written before `Link.inputs`)."""
    await svc.apply(await svc.plan(SCIM_APP), Confirmation(yes=True))
    links = svc.store.links.for_app(SCIM_APP)
    for link in links:
        link.inputs = ""
    svc.store.links.put_many(links)
    svc.store.flush()
    return links


async def test_a_sync_records_the_inputs_on_links_older_than_them(org_service, scim_directory):
    svc = org_service
    links = await synced_without_inputs(svc)

    plan = await svc.plan(SCIM_APP)
    assert plan.operations == [] and len(plan.apps[0].settled) == len(links)
    moved = links[0]
    moved.attrs = {**moved.attrs}  # saved again between the plan and the sync: not the attributes the plan compared
    svc.store.links.put(moved)
    dry = await svc.apply(plan, Confirmation(yes=True), dry_run=True)
    assert dry.ok and all(link.inputs == "" for link in svc.store.links.for_app(SCIM_APP))  # a dry run writes nothing

    assert (await svc.apply(plan, Confirmation(yes=True))).ok
    recorded = {link.local_id: link.inputs for link in svc.store.links.for_app(SCIM_APP)}
    assert recorded.pop(moved.local_id) == ""
    assert recorded == {uid: inputs for uid, (inputs, _) in plan.apps[0].settled.items() if uid != moved.local_id}
    again = await svc.plan(SCIM_APP)
    assert again.operations == [] and list(again.apps[0].settled) == [moved.local_id]


async def test_a_sync_through_the_states_index_applies_and_records_inputs_without_loading_everything(
        org_service, scim_directory):
    """The same on a store opened through the state's index (issue 16: a sync at 100k people loaded ~1.2 GB): the
    plan reads only the people and links it needs, the sync writes the links it changed and records the inputs of
    the ones found in step, unless saved since the plan; the store never loads every document."""
    svc = org_service
    links = await synced_without_inputs(svc)
    svc.store.close()

    def recorded() -> dict[str, str]:
        with Store.open(svc.home, readonly=True) as reader:
            return {link.local_id: link.inputs for link in reader.links.for_app(SCIM_APP)}

    reopened = Service(Store.open(svc.home), operator="tester")
    try:
        store = reopened.store
        assert store.partial
        plan = await reopened.plan(SCIM_APP)
        settled = plan.apps[0].settled
        assert plan.operations == [] and sorted(settled) == sorted(link.local_id for link in links)
        moved = store.links.find(SCIM_APP, links[0].local_id)
        moved.attrs, moved.updated = {**moved.attrs}, "2099-01-01T00:00:00Z"  # saved again since the plan
        store.links.put(moved)
        assert (await reopened.apply(plan, Confirmation(yes=True))).ok and store.partial
        now = recorded()
        assert now.pop(moved.local_id) == ""
        assert now == {uid: inputs for uid, (inputs, _) in settled.items() if uid != moved.local_id}

        mover = store.users.get(links[1].local_id)
        reopened.edit_user(mover.userName, department="Moved")
        (update,) = (await reopened.plan(SCIM_APP)).operations  # the mover only: the others' inputs are recorded
        assert update.person_id == mover.id and update.changes == {"department": [mover.department, "Moved"]}
        assert (await reopened.apply(await reopened.plan(SCIM_APP), Confirmation(yes=True))).ok
        assert store.partial
        assert recorded()[mover.id].startswith(person_inputs(store.users.get(mover.id)) + ".")
        assert (await reopened.plan(SCIM_APP)).operations == []
    finally:
        reopened.close()

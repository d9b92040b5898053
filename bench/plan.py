"""Plan 100k people × 2 applications with 100k links each; target ≤ 1 s (issue 16).

The links are seeded as a sync leaves them: the attributes pushed and the inputs they were computed from
(`Link.inputs`). Baselines in the same run: the same plan without the connector's `attributes_version` (every
person's attributes computed and compared, as before the inputs were recorded), and the diff written naively
(for every person, scan the app's link list), to show what the indexes save. Prints ratios.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.connectors.atlassian.payloads import ATTRIBUTES_VERSION, account_attributes  # noqa: E402
from console.connectors.base import Capability  # noqa: E402
from console.models import Application, Group, Link, Policy, User  # noqa: E402
from console.store import Store  # noqa: E402
from console.sync.plan import (  # noqa: E402
    Plan,
    Tools,
    context_inputs,
    inputs_key,
    person_inputs,
    plan_from_state,
)

PEOPLE = 100_000
TARGET = 1.0


def seed(store: Store) -> None:
    rng = random.Random(7)
    people = [User(employeeId=f"E{i:06d}", userName=f"person{i}", givenName="Given", familyName=f"Family{i}",
                   emails=[f"person{i}@corp.example"], department=rng.choice(["Eng", "Sales", "Ops"])) for i in range(PEOPLE)]
    store.users.put_many(people)
    store.groups.put_many([Group(name="everyone", members=[u.id for u in people])])
    for app in ("scim-a", "scim-b"):
        application = store.applications.put(Application(name=app, kind="atlassian"))
        store.policies.put(Policy(name=f"{app}-all", app=app, groups=["everyone"]))
        context = context_inputs(application, ATTRIBUTES_VERSION, "sso")
        links = [Link(app=app, local_id=u.id, remote_id=f"{app}-{u.id}", remote_name=u.userName,
                      attrs=account_attributes(u, "sso"), inputs=inputs_key(person_inputs(u), context)) for u in people]
        store.links.put_many(links)
    # some movers and leavers so the plan has work in it
    for user in rng.sample(people, 500):
        user.department = "Moved"
    for user in rng.sample(people, 50):
        user.status = "leaver"
    store.users.put_many(people)


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        store = Store.open(Path(home))
        t = time.perf_counter()
        seed(store)
        print(f"seeded {PEOPLE:,} people, 2 apps, {2 * PEOPLE:,} links in {time.perf_counter() - t:.1f} s")
        caps = frozenset(Capability)
        apps = [a for a in (store.applications.by_name(n) for n in ("scim-a", "scim-b")) if a is not None]

        def timed(version: str) -> tuple[Plan, float, float]:
            tools: dict[str, Tools] = {a.name: (account_attributes, caps, lambda attrs: "", version) for a in apps}
            t, cpu = time.perf_counter(), time.process_time()
            plan = plan_from_state(store, apps, tools)
            return plan, time.perf_counter() - t, time.process_time() - cpu

        computed, base, base_cpu = timed("")  # every person's attributes computed and compared
        plan, ours, ours_cpu = timed(ATTRIBUTES_VERSION)
        assert [op.to_dict() for op in plan.operations] == [op.to_dict() for op in computed.operations]
        counts = {a.app: a.counts() for a in plan.apps}
        print(f"plan: {len(plan.operations):,} operations {counts} (the same with and without the inputs)")
        print(f"plan time, attributes computed for everyone (baseline): {base:.2f} s (cpu {base_cpu:.2f} s)")
        print(f"plan time (idconsole), unchanged inputs skipped: {ours:.2f} s (cpu {ours_cpu:.2f} s)   "
              f"ratio cpu {base_cpu / ours_cpu:.2f}x, wall {base / ours:.2f}x   target ≤ {TARGET} s   "
              f"{'PASS' if ours <= TARGET else 'MISS'}")

        # naive baseline on a 2,000-person slice, extrapolated linearly (the naive scan is quadratic, so
        # extrapolating linearly flatters it)
        sample = store.users.all()[:2000]
        links = [link for link in store.links if link.app == "scim-a"]
        t = time.perf_counter()
        for user in sample:
            link = next((lk for lk in links if lk.local_id == user.id), None)
            attrs = account_attributes(user, "sso")
            _ = {k for k in attrs if link is None or link.attrs.get(k) != attrs[k]}
        naive = (time.perf_counter() - t) / len(sample) * PEOPLE * len(apps)
        print(f"naive baseline (linear scan of links), extrapolated: {naive:.1f} s   ratio {naive / ours:.0f}x slower")
        store.close()


if __name__ == "__main__":
    main()

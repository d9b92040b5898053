"""Plan 100k people × 2 applications with 100k links each; target ≤ 1 s (issue 16).

Baseline in the same run: the same diff written naively (for every person, scan the app's link list
and rebuild the group memberships per policy), to show what the indexes save. Prints ratios.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.connectors.atlassian.payloads import account_attributes  # noqa: E402
from console.connectors.base import Capability  # noqa: E402
from console.models import Application, Group, Link, Policy, User  # noqa: E402
from console.store import Store  # noqa: E402
from console.sync.plan import Plan, plan_app  # noqa: E402

PEOPLE = 100_000
TARGET = 1.0


def seed(store: Store) -> None:
    rng = random.Random(7)
    people = [User(employeeId=f"E{i:06d}", userName=f"person{i}", givenName="Given", familyName=f"Family{i}",
                   emails=[f"person{i}@corp.example"], department=rng.choice(["Eng", "Sales", "Ops"])) for i in range(PEOPLE)]
    store.users.put_many(people)
    store.groups.put_many([Group(name="everyone", members=[u.id for u in people])])
    for app in ("scim-a", "scim-b"):
        store.applications.put(Application(name=app, kind="atlassian"))
        store.policies.put(Policy(name=f"{app}-all", app=app, groups=["everyone"]))
        links = [Link(app=app, local_id=u.id, remote_id=f"{app}-{u.id}", remote_name=u.userName,
                      attrs=account_attributes(u, "sso")) for u in people]
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
        apps = [store.applications.by_name(n) for n in ("scim-a", "scim-b")]
        t, cpu = time.perf_counter(), time.process_time()
        plan = Plan(apps=[plan_app(store, app, account_attributes, caps) for app in apps])
        ours, ours_cpu = time.perf_counter() - t, time.process_time() - cpu
        counts = {a.app: a.counts() for a in plan.apps}
        print(f"plan: {len(plan.operations):,} operations {counts}")
        print(f"plan time (idconsole): {ours:.2f} s (cpu {ours_cpu:.2f} s)   target ≤ {TARGET} s   "
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

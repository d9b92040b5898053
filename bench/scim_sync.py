"""Bench: the whole `idconsole sync --yes` (a subprocess: process start, imports, plan, journal, links, output)
of N people into a scim2-server (its own process, a new one for each run) against raw concurrent httpx POSTs of the
same users at the same concurrency, in their own process too, which also makes the sync's group writes (the group's
look-up and POST, the PATCHes adding its members); in alternating order. The checkout's bytecode is written first
(not timed), as an installed idconsole has it.

    python bench/scim_sync.py [--people 2000] [--rounds 2] [--concurrency N]

Prints per round and in total: wall seconds of each process, people/s, the ratio idconsole/raw (target >= 0.9x),
and the client CPU per created account of each process (user + system, `RUSAGE_CHILDREN` around each
subprocess; target idconsole <= 1.2x raw), which a busy machine disturbs less than wall time. The raw process's
own time for its requests alone (without its start and import of httpx) is printed too, as the stricter baseline.
Binds 127.0.0.1 only; removes what it wrote; stops by itself (--timeout per process).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from console.sandbox.scim_directory import ScimDirectoryServer  # noqa: E402
from measure import compile_checkout, idconsole_sync, timed  # noqa: E402

TOKEN_ENV = "IDCONSOLE_BENCH_SCIM_TOKEN"

# A home with N people in one group, one Atlassian app, one policy (not timed).
SETUP = """
import sys
from console.models import Application, Group, Policy, User
from console.store import Store
home, url, count, token_env, concurrency, prefix = sys.argv[1:7]
count, concurrency = int(count), int(concurrency)
with Store.open(home) as store:
    people = [User(employeeId=f"{prefix}{i:05d}", userName=f"{prefix.lower()}{i:05d}", givenName="Bench",
                   familyName=f"Person{i}", emails=[f"{prefix.lower()}{i:05d}@corp.example"], title="Engineer",
                   department="R&D") for i in range(count)]
    store.users.put_many(people)
    store.groups.add(Group(name="bench", members=[u.id for u in people]))
    store.applications.add(Application(name="bench", kind="atlassian", settings={"base_url": url, "timeout": 30},
                                       secrets={"token": f"env:{token_env}"}, max_concurrency=concurrency))
    store.policies.add(Policy(name="bench", app="bench", groups=["bench"]))
    store.flush()
"""

# The bodies the connector sends for the same people and their group, written to a file for the raw process (not
# timed): the sync pushes the policy's group too (a look-up by name, its POST, PATCHes adding the members), so the raw
# process makes the same writes.
PAYLOADS = """
import json, sys
from console.connectors.atlassian.payloads import (MEMBERS_PER_PATCH, account_attributes, add_members_patches,
                                                   eq_filter, group_payload, user_payload)
from console.models import User
out, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bodies = [user_payload(account_attributes(User(employeeId=f"{prefix}{i:05d}", userName=f"{prefix.lower()}{i:05d}",
          givenName="Bench", familyName=f"Person{i}", emails=[f"{prefix.lower()}{i:05d}@corp.example"],
          title="Engineer", department="R&D"), "sso")) for i in range(count)]
with open(out, "w") as f:
    json.dump({"users": bodies, "group": group_payload("bench"), "group_filter": eq_filter("displayName", "bench"),
               "patch": add_members_patches(["ID"])[0], "per_patch": MEMBERS_PER_PATCH}, f)
"""

# The raw peer: its own process, httpx only, `concurrency` workers; prints the seconds of its requests alone.
RAW = """
import asyncio, copy, json, sys, time
import httpx
url, token, concurrency, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(path) as f:
    work = json.load(f)
TYPE = {"Content-Type": "application/scim+json"}

async def main():
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    queue = asyncio.Queue()
    for body in work["users"]:
        queue.put_nowait(body)
    ids = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30.0) as client:
        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/Users", json=body, headers=TYPE)
                response.raise_for_status()
                ids.append(response.json()["id"])
        started = time.perf_counter()
        (await client.get("/Groups", params={"filter": work["group_filter"]})).raise_for_status()
        response = await client.post("/Groups", json=work["group"], headers=TYPE)
        response.raise_for_status()
        group = response.json()["id"]
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        step = work["per_patch"]
        for start in range(0, len(ids), step):
            patch = copy.deepcopy(work["patch"])
            patch["Operations"][0]["value"] = [{"value": uid} for uid in ids[start:start + step]]
            (await client.patch(f"/Groups/{group}", json=patch, headers=TYPE)).raise_for_status()
        return time.perf_counter() - started

print(json.dumps({"posts_s": asyncio.run(main())}))
"""


def count_users(base_url: str, token: str) -> int:
    import httpx
    response = httpx.get(f"{base_url}/Users", params={"count": 1}, headers={"Authorization": f"Bearer {token}"})
    return int(response.json()["totalResults"])


def run_side(side: str, n: int, server: ScimDirectoryServer, tmp: str, env: dict[str, str],
             args: argparse.Namespace, concurrency: int) -> tuple[float, float, float | None]:
    """One timed run of `side` into a fresh directory of `server` (warmed first, not timed): wall s, CPU s, and the
    raw process's own seconds for its requests; wall -1 when the directory does not hold what it should."""
    token = server.token
    warm = server.base_url(server.new_directory())  # a fresh server's first requests are slow
    warm_file = Path(tmp) / "warm.json"
    if not warm_file.exists():
        subprocess.run([sys.executable, "-c", PAYLOADS, str(warm_file), "200", "W"], env=env, check=True, cwd=ROOT)
    timed([sys.executable, "-c", RAW, warm, token, str(concurrency), str(warm_file)], env, args.timeout)
    url = server.base_url(server.new_directory())
    posted = None
    if side == "raw":
        body_file = Path(tmp) / f"raw-{n}.json"
        subprocess.run([sys.executable, "-c", PAYLOADS, str(body_file), str(args.people), f"R{n}"],
                       env=env, check=True, cwd=ROOT)
        took, used, out = timed([sys.executable, "-c", RAW, url, token, str(concurrency), str(body_file)],
                                env, args.timeout)
        posted = json.loads(out)["posts_s"]
    else:
        took, used = idconsole_sync(Path(tmp) / f"home-{n}", env, SETUP,
                                    [url, str(args.people), TOKEN_ENV, str(concurrency), f"I{n}"], "bench", args.timeout)
    stored = count_users(url, token)
    if stored != args.people:
        print(f"error: {side} left {stored} users in its directory, expected {args.people}",
              file=sys.stderr)
        return -1.0, 0.0, None
    return took, used, posted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, in alternating order")
    parser.add_argument("--concurrency", type=int, default=0, help="default: Application.max_concurrency's default")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a process after this many seconds")
    args = parser.parse_args()
    from console.models import Application
    concurrency = args.concurrency or Application(name="x", kind="atlassian").max_concurrency
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "PYTHONPATH": str(ROOT), TOKEN_ENV: token, "NO_COLOR": "1"}
    wall: dict[str, list[float]] = {"raw": [], "idconsole": []}
    cpu: dict[str, list[float]] = {"raw": [], "idconsole": []}
    posts: list[float] = []
    compile_checkout(env)
    with tempfile.TemporaryDirectory(prefix="idconsole-bench-") as tmp:
        for n in range(args.rounds):
            order = ("raw", "idconsole") if n % 2 == 0 else ("idconsole", "raw")
            for side in order:
                # A scim2-server of its own for each run: one holding the earlier runs' users answers more slowly
                # (its heap, hence its garbage collections, grows), which favoured whichever side ran first.
                server = ScimDirectoryServer(token, tenants=2).start()
                try:
                    took, used, posted = run_side(side, n, server, tmp, env, args, concurrency)
                finally:
                    server.stop()
                if posted is not None:
                    posts.append(posted)
                if took < 0:
                    return 1
                wall[side].append(took)
                cpu[side].append(used)
                print(f"round {n + 1} {side:<9} {args.people} people in {took:6.2f} s = "
                      f"{args.people / took:6.1f}/s, CPU {1000 * used / args.people:.2f} ms/account"
                      + (f" (requests alone {posts[-1]:.2f} s)" if side == "raw" else ""), flush=True)
    total = {side: sum(v) for side, v in wall.items()}
    per = {side: 1000 * sum(v) / (args.people * args.rounds) for side, v in cpu.items()}
    print(f"whole idconsole sync: {total['idconsole']:6.2f} s, raw httpx process: {total['raw']:6.2f} s "
          f"(its requests alone {sum(posts):6.2f} s) over {args.rounds} round(s), concurrency {concurrency}")
    print(f"ratio idconsole/raw (speed): {total['raw'] / total['idconsole']:5.2f}x whole processes, "
          f"{sum(posts) / total['idconsole']:5.2f}x against the requests alone (target >= 0.90x)")
    print(f"client CPU per account: idconsole {per['idconsole']:.2f} ms, raw {per['raw']:.2f} ms, "
          f"ratio {per['idconsole'] / per['raw']:5.2f}x (target <= 1.20x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

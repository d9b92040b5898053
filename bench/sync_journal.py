"""Bench: the cost of the journal (an intent durable before each remote write), timed as an operator runs it:
`idconsole sync --yes` of N people into a scim2-server (its own process), this checkout against a baseline
revision exported from git, each on a fresh home and a fresh directory, in alternating order.

    python bench/sync_journal.py [--people 2000] [--baseline 89e2439] [--rounds 2]

Prints the seconds of each sync, the total per side and the ratio this/baseline (target <= 1.10: the journal
must not make a sync more than 10 % slower). Binds 127.0.0.1 only; removes what it wrote.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.sandbox.scim_directory import ScimDirectoryServer  # noqa: E402

TOKEN_ENV = "IDCONSOLE_BENCH_SCIM_TOKEN"

# Runs with the side's own `console` on sys.path: a home with N people in one group, one Atlassian app, one policy.
SETUP = """
import sys
from console.models import Application, Group, Policy, User
from console.store import Store
home, url, count, token_env = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Store.open(home) as store:
    people = [User(employeeId=f"B{i:05d}", userName=f"bench{i:05d}", givenName="Bench", familyName=f"Person{i}",
                   emails=[f"bench{i:05d}@corp.example"], title="Engineer", department="R&D") for i in range(count)]
    store.users.put_many(people)
    store.groups.add(Group(name="bench", members=[u.id for u in people]))
    store.applications.add(Application(name="bench", kind="atlassian", settings={"base_url": url, "timeout": 30},
                                       secrets={"token": f"env:{token_env}"}))
    store.policies.add(Policy(name="bench", app="bench", groups=["bench"]))
    store.flush()
"""


def export(revision: str, into: Path) -> Path:
    """The baseline's files (`git archive`), without touching any worktree."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), revision], check=True)
    target = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def timed_sync(code: Path, home: Path, url: str, people: int, token: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), TOKEN_ENV: token, "IDCONSOLE_HOME": str(home), "NO_COLOR": "1"}
    subprocess.run([sys.executable, "-c", SETUP, str(home), url, str(people), TOKEN_ENV], env=env, check=True,
                   cwd=code)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "console", "sync", "--app", "bench", "--yes", "--json"], env=env,
                          cwd=code, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the sync of {code} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--baseline", default="89e2439", help="the revision before the journal (git)")
    parser.add_argument("--rounds", type=int, default=2, help="syncs per side, in alternating order")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    seconds: dict[str, list[float]] = {"baseline": [], "journal": []}
    with tempfile.TemporaryDirectory(prefix="idconsole-bench-") as tmp, \
            ScimDirectoryServer(token, tenants=2 * args.rounds + 1) as server:
        sides = {"baseline": export(args.baseline, Path(tmp)), "journal": ROOT}
        for n in range(args.rounds):
            order = ("baseline", "journal") if n % 2 == 0 else ("journal", "baseline")
            for side in order:
                home = Path(tmp) / f"{side}-{n}"
                took = timed_sync(sides[side], home, server.base_url(server.new_directory()), args.people, token)
                seconds[side].append(took)
                print(f"round {n + 1} {side:<8} {args.people} people in {took:6.2f} s", flush=True)
    base, new = sum(seconds["baseline"]), sum(seconds["journal"])
    print(f"baseline ({args.baseline}) {base:6.2f} s, with the journal {new:6.2f} s over {args.rounds} round(s)")
    print(f"ratio journal/baseline: {new / base:5.2f}x (target <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Bench: the CLI as an operator waits for it at 100k people (whole processes, store open included), against
the floor of a process that only parses the same state file with orjson, measured in the same run.

    python bench/cli.py [--people 100000] [--events 1000000] [--repeat 3]

Builds a throw-away home (people, 8 department groups, 2 applications with policies, a link per person and
application as a sync leaves it — the attributes pushed and the inputs they were computed from, or without the
inputs with `--no-inputs` —, events over 12 months), then times `users show KEY`, a narrow and a wide `users list --filter`,
`plan` (2 applications, no remote read), the parse-only floor and a process that only imports the CLI (what no
command can go under), each in its own process; then the writes, on a copy of the home of their own (a write changes
it): `users edit KEY --title …` (another title each run, so that every run writes), `users add` of a new person and
`users delete KEY --yes` of another person each run, and `sync --yes --json`, which plans (the edits, additions and
deletions before it, the groups not yet created) and then stops on the applications' unset credential, exiting 1 as
expected (each write case must exit as it should, or the bench stops). Prints the best of `--repeat` runs, the max
RSS of each, and the ratio to the floor. Targets (issue 16): show and the narrow list <= 0.5 s, plan <= 1 s, RSS
<= 500 MB (every case). Stops by itself and removes what it wrote.

`--compare DIR` also times the CLI cases with the code of another checkout DIR (e.g. `git worktree add DIR main`)
on a copy of the same home whose index DIR's code wrote (an index of another format reads as absent: the other
checkout would parse everything), interleaved with this checkout's: before and after in the same run; the write
cases run on a copy of each checkout's home of their own, the same writes in the same order on both. Each case
prints its wall time and its CPU time (user + system), which load on a shared machine disturbs less.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402
from store import make_people, write_events  # noqa: E402

from console.connectors.atlassian.payloads import ATTRIBUTES_VERSION, account_attributes  # noqa: E402
from console.models import Application, Group, Link, Policy, attrs_hash  # noqa: E402
from console.store import Store  # noqa: E402
from console.sync.plan import context_inputs, inputs_key, person_inputs  # noqa: E402

FLOOR = "import orjson, sys; orjson.loads(open(sys.argv[1], 'rb').read())"
# a timed case: the command of run r, its target (s), env, working directory, the exit statuses expected
Case = tuple[Callable[[int], list[str]], float | None, dict[str, str], Path, tuple[int, ...]]


def build(home: Path, people_count: int, events: int, inputs: bool = True) -> str:
    people = make_people(people_count)
    with Store.open(home) as store:
        store.users.put_many(people)
        departments = sorted({p.department for p in people})
        for dept in departments:
            store.groups.add(Group(name=dept.lower(), members=[p.id for p in people if p.department == dept]))
        for app in ("atlassian", "ad"):
            application = Application(name=app, kind="atlassian", secrets={"token": "env:UNSET"},
                                      settings={"base_url": "http://127.0.0.1:9/directory"})
            store.applications.add(application)
            store.policies.add(Policy(name=app, app=app, groups=[d.lower() for d in departments]))
            pushed = [account_attributes(p, "sso") for p in people]  # in step: the plan has nothing to do
            # as a sync leaves them: with the inputs the attributes were computed from (`Link.inputs`), unless
            # `--no-inputs` (links older than the inputs: the plan computes every person's attributes)
            context = context_inputs(application, ATTRIBUTES_VERSION, "sso") if inputs else ""
            store.links.put_many([Link(app=app, local_id=p.id, remote_id=f"{app}-{i}", remote_name=p.userName,
                                       state="active", attrs=attrs, attrs_hash=attrs_hash(attrs),
                                       inputs=inputs_key(person_inputs(p), context) if inputs else "")
                                  for i, (p, attrs) in enumerate(zip(people, pushed))])
        store.flush()
    if events:
        write_events(home, people, events, datetime.now(timezone.utc))
    return people[people_count // 2].employeeId


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT, expect: tuple[int, ...] = (0, 1),
        out: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and max RSS (MB) of one process; stops the bench when it exits
    with a status not in `expect`. Its output goes to `out` when given (for a check after), else nowhere."""
    started = time.perf_counter()
    with open(out if out is not None else os.devnull, "wb") as stdout:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in expect:
        raise SystemExit(f"{command} exited {code}, expected {expect}: "
                         f"{process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    if process.stderr:
        process.stderr.close()
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def index_with(env: dict[str, str], cwd: Path) -> None:
    """The home of `env` indexed by the code of the checkout `cwd` (its writer's open), untimed."""
    subprocess.run([sys.executable, "-c", "from console.store import Store; Store.open(None).close()"],
                   env=env, cwd=cwd, check=True)
    if not (Path(env["IDCONSOLE_HOME"]) / "state.index").exists():
        raise SystemExit(f"{env['IDCONSOLE_HOME']}: no index after a writer's open")


def stopped_on_credential(out: Path) -> None:
    """`sync --yes --json` on the bench's home must have planned, then stopped on the unset credential (and on
    nothing else), or its time is not the time of a plan."""
    report = orjson.loads(out.read_bytes())
    stopped = report.get("stopped") or {}
    if "plan" not in report or not stopped or any("UNSET" not in str(why) for why in stopped.values()):
        raise SystemExit(f"sync did not stop on the unset credential after planning: stopped={stopped!r}")


def check_writes(env: dict[str, str], cwd: Path, key: str, people: int, repeat: int) -> None:
    """Each run's writes are in the home after the runs (read back by the same checkout's code), or the bench
    timed something else than writes."""
    def show(who: str) -> tuple[int, dict[str, object]]:
        shown = subprocess.run([sys.executable, "-m", "console", "users", "show", who, "--json"], env=env, cwd=cwd,
                               capture_output=True)
        return shown.returncode, orjson.loads(shown.stdout) if shown.returncode == 0 else {}
    code, person = show(key)
    if code != 0 or person.get("title") != f"Lead {repeat}":
        raise SystemExit(f"{cwd.name}: {key}'s title is {person.get('title')!r}, not the last edit's 'Lead {repeat}'")
    for r in range(1, repeat + 1):
        if show(f"N{r:07d}")[0] != 0:
            raise SystemExit(f"{cwd.name}: the person added in run {r} (N{r:07d}) is not in the home")
        if show(f"E{people // 4 + r:07d}")[0] == 0:
            raise SystemExit(f"{cwd.name}: the person deleted in run {r} (E{people // 4 + r:07d}) is still there")


def writes(key: str, people: int) -> dict[str, tuple[Callable[[int], list[str]], tuple[int, ...]]]:
    """The write cases: the command of run `r` (each run writes something new) and the exit statuses expected."""
    idc = [sys.executable, "-m", "console"]
    return {
        f"users edit {key} --title …": (lambda r: idc + ["users", "edit", key, "--title", f"Lead {r}"], (0,)),
        "users add (a new person)": (lambda r: idc + [
            "users", "add", "--employee-id", f"N{r:07d}", "--user-name", f"n{r:07d}", "--given-name", "Bench",
            "--family-name", f"Person {r}", "--email", f"n{r:07d}@example.com", "--department", "Engineering",
            "--title", "Engineer"], (0,)),
        "users delete KEY --yes (another person a run)": (
            lambda r: idc + ["users", "delete", f"E{people // 4 + r:07d}", "--yes"], (0,)),
        "sync --yes --json (plans; exit 1: credential unset)": (
            lambda r: idc + ["sync", "--yes", "--json"], (1,)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-inputs", action="store_true",
                        help="links without the inputs a sync records (the plan computes every person's attributes)")
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="also time the CLI cases with the code of the checkout DIR (before/after in one run)")
    parser.add_argument("--build-only", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:  # in its own process, so that the timed processes do not inherit its memory
        print(build(Path(args.build_only), args.people, args.events, inputs=not args.no_inputs))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="idconsole-bench-"))
    try:
        home = tmp / "home"
        started = time.perf_counter()
        key = subprocess.run([sys.executable, __file__, "--build-only", str(home), "--people", str(args.people),
                              "--events", str(args.events), *(["--no-inputs"] if args.no_inputs else [])],
                             check=True, capture_output=True, text=True).stdout.strip()
        index = home / "state.index"  # the sidecar index keyed reads go through (absent before it existed)
        print(f"home: {args.people} people, {2 * args.people} links, {args.events} events, state "
              f"{(home / 'state.json').stat().st_size / 1e6:.0f} MB, index "
              f"{index.stat().st_size / 1e6 if index.exists() else 0:.0f} MB, built in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "IDCONSOLE_HOME": str(home), "NO_COLOR": "1"}
        compare_env: dict[str, str] = {}
        if args.compare is not None:  # the same state, indexed by the other checkout's code (its writer's open)
            compare = args.compare.resolve()
            other = tmp / "home-compare"
            shutil.copytree(home, other, ignore=shutil.ignore_patterns(index.name))
            compare_env = {**env, "PYTHONPATH": str(compare), "IDCONSOLE_HOME": str(other)}
            index_with(compare_env, compare)
        # the writes change the home: each checkout writes to a copy of its own, indexed by its own code (a copied
        # state file is another inode: the index's stamp no longer matches it, and the first write would parse it all)
        write_home = tmp / "home-write"
        shutil.copytree(home, write_home, ignore=shutil.ignore_patterns(index.name))
        write_env = {**env, "IDCONSOLE_HOME": str(write_home)}
        index_with(write_env, ROOT)
        compare_write_env: dict[str, str] = {}
        if args.compare is not None:
            compare_write = tmp / "home-compare-write"
            shutil.copytree(home, compare_write, ignore=shutil.ignore_patterns(index.name))
            compare_write_env = {**compare_env, "IDCONSOLE_HOME": str(compare_write)}
            index_with(compare_write_env, args.compare.resolve())
        idc = [sys.executable, "-m", "console"]
        cli_cases: dict[str, tuple[list[str], float | None]] = {
            "imports only (python -c 'import console.cli')": ([sys.executable, "-c", "import console.cli"], None),
            f"users show {key}": (idc + ["users", "show", key], 0.5),
            "users list --filter (1 person)": (idc + ["users", "list", "--filter", key], 0.5),
            "users list --filter (wide)": (idc + ["users", "list", "--filter", "Engineering"], None),
            "plan (2 applications)": (idc + ["plan", "--json"], None),
        }
        cases: dict[str, Case] = {
            "floor: parse state.json": (lambda r: [sys.executable, "-c", FLOOR, str(home / "state.json")], None,
                                        env, ROOT, (0,))}
        compare = args.compare.resolve() if args.compare is not None else ROOT
        for name, (command, target) in cli_cases.items():
            cases[name] = (lambda r, command=command: command, target, env, ROOT, (0, 1))
            if args.compare is not None:  # run from DIR: `-m`/`-c` put the working directory first on sys.path
                cases[f"{name} [{compare.name}]"] = (lambda r, command=command: command, None, compare_env, compare,
                                                     (0, 1))
        for name, (make, expect) in writes(key, args.people).items():
            cases[name] = (make, None, write_env, ROOT, expect)
            if args.compare is not None:
                cases[f"{name} [{compare.name}]"] = (make, None, compare_write_env, compare, expect)
        sync_out = tmp / "sync.json"
        best: dict[str, tuple[float, float, int]] = {}
        for r in range(1, args.repeat + 1):  # interleaved, so that load hits every case alike
            for name, (make, _target, case_env, cwd, expect) in cases.items():
                command = make(r)
                syncs = command[-3:] == ["sync", "--yes", "--json"]
                seconds, cpu, rss = run(command, case_env, cwd, expect, sync_out if syncs else None)
                if syncs:
                    stopped_on_credential(sync_out)
                before = best.get(name)
                if before is None or seconds < before[0]:
                    best[name] = (seconds, min(cpu, before[1]) if before else cpu, max(rss, before[2] if before else 0))
                else:
                    best[name] = (before[0], min(cpu, before[1]), max(rss, before[2]))
        check_writes(write_env, ROOT, key, args.people, args.repeat)
        if args.compare is not None:
            check_writes(compare_write_env, compare, key, args.people, args.repeat)
        print(f"writes checked in each home after the runs: the last title there, the {args.repeat} added there, "
              f"the {args.repeat} deleted gone; each sync planned, then stopped on the unset credential (exit 1, expected)")
        floor = best["floor: parse state.json"][0]
        width = max(map(len, best))
        for name, (seconds, cpu, rss) in best.items():
            target = cases[name][1]
            verdict = "" if target is None else f"  target <= {target} s: {'PASS' if seconds <= target else 'MISS'}"
            print(f"{name:<{width}} {seconds:6.2f} s (CPU {cpu:5.2f} s)  {seconds / floor:5.1f}x the floor  "
                  f"RSS {rss:5d} MB{verdict}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The provisioning report at 1M events: filter by person + application + 30 days; target ≤ 100 ms cold (issue 16).

    python bench/report.py [--events 1000000] [--people 100000] [--repeat 5] [--appends 6000] [--compare DIR]

Builds a throw-away home (100k people, 40 applications, 1M events over 12 months), then measures the query
`idconsole report --user U --app A --since 30d` runs:

- in this process (`console.reports.query`, imports done): cold = a fresh Store (state index and month files read
  again), warm = the same store again; also by e-mail and a status-only filter over the span;
- cold in a new process, as an operator's command runs it: a new interpreter that imports `console.service`, opens
  the home (read-only) and asks `Service.report` (what `idconsole report` calls); the query (open + report) and the
  imports are timed apart, median of `--repeat`;
- the whole `idconsole report` process (`python -m console … report …`, its output read by the bench) against a
  process that only imports the CLI, interleaved, best of `--repeat` (wall, and CPU = user + system of the child:
  what load on a shared machine disturbs less).

A person no longer in the state (deleted: `--user` their former userName) and an unknown one are looked up in the
report's identity records: through the identities files (`events/identities/`, built here once as a writer's first
append builds them, with the months' person indexes; that build is timed), against the same home without them (every
month's identity records read, what the code before did), in new processes, median of `--repeat`, with the
process's peak RSS.

A label without a run of digits: the asked person's display name (shared by many people: many ids) and an unknown
e-mail, cold in new processes, median of `--repeat` (with `--compare DIR`, the code of DIR too, same run). The person,
the deleted one and these labels are also asked of the same home without the months' person indexes
(`events/by-person/`: the months' bytes are searched, as a month without one is), same run.

What keeping the identities files and the person indexes costs a writer: `--appends` appends of one event each to a
copy of the newest month, after the writer's first, CPU of each (with `--compare DIR`, the code of DIR too).

Every new process finds the OS page cache as it is: the files were just written, so they are in it (dropping it
needs root and is not done). Bytecode is cached (PYTHONPYCACHEPREFIX in the temp directory, written by one run
first), as an installed idconsole has it. Baselines in the same run: one file holding every event, each line parsed,
then filtered; the import-only process; with `--compare DIR`, the same new-process figures with the code of the
checkout DIR on its own copy of the home (indexed by that code's own writer first): before and after in one run.
Stops by itself and removes what it wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from store import make_people, naive_log_baseline, write_events  # noqa: E402  (bench/store.py)

from console.eventlog import EventLog  # noqa: E402
from console.models import Application  # noqa: E402
from console.reports import ReportFilter, query  # noqa: E402
from console.store import Store  # noqa: E402

TARGET = 0.100
BUILT: list[float] = []  # seconds the identities files and person indexes took to build
# A new interpreter's report: imports, then open + query, timed apart (what `idconsole report` does, without argparse
# and printing).
CHILD = """
import json, sys, time
t0 = time.perf_counter()
from console.service import ReportFilter, Service
t1 = time.perf_counter()
with Service.open(sys.argv[1], readonly=True) as svc:
    found = svc.report(ReportFilter(person=sys.argv[2], app=sys.argv[3], since="30d"))
t2 = time.perf_counter()
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]  # this process's peak
print(json.dumps({"imports": t1 - t0, "query": t2 - t1, "count": len(found), "rss": int(hwm[0]) if hwm else 0}))
"""
INDEX_IT = "import sys; from console.store import Store; Store.open(sys.argv[1]).close()"
# A writer's appends of one event each to the newest month (its identities file and person index kept, as they are
# there), after its first append: CPU seconds of each, as JSON.
APPENDS = """
import json, sys, time
from console.eventlog import EventLog
from console.models import Event
log = EventLog(sys.argv[1])
month = sys.argv[2]
log.append(Event(action="sync", status="success", time=f"{month}-28T00:00:00Z"))
cpu = []
for i in range(int(sys.argv[3])):
    t = time.process_time()
    log.append(Event(action="update", status="success", app="app01", person=f"w{i:07d}", person_id=f"w{i}",
                     changes={"title": ["a", "b"]}, time=f"{month}-28T00:00:01Z"))
    cpu.append(time.process_time() - t)
print(json.dumps(cpu))
"""


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def process(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, bytes]:
    """Wall seconds and CPU seconds (user + system) of one process, and its output."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{command} failed ({child.returncode}): {err.decode()[-2000:]}")
    return seconds, _children_cpu(), out


_CPU = [0.0]


def _children_cpu() -> float:
    """CPU seconds of the children since the last call."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    used, _CPU[0] = total - _CPU[0], total
    return used


def build(home: Path, people_count: int, events: int) -> tuple[list[str], dict[str, str], str, str, str, str, str]:
    """The home; returns its months, who had an event lately in which application, the person asked for (userName
    and e-mail), the 30 days' cutoff, the userName of a person with identity records (one had an event lately
    in the same application) then removed from the state (deleted), and the asked person's display name (a name many
    people share). Builds the identities files and person indexes (timed apart)."""
    people = make_people(people_count)
    with Store.open(home) as store:
        store.users.put_many(people)
        store.applications.put_many([Application(name=f"app{i:02d}", kind="atlassian") for i in range(40)])
        store.flush()
    now = datetime.now(timezone.utc)
    months, recent = write_events(home, people, events, now)
    person_id, app = next(iter(recent.items()))
    person = next(p for p in people if p.id == person_id)
    cutoff = datetime.fromtimestamp(now.timestamp() - 30 * 86400, timezone.utc).isoformat(timespec="seconds")
    log = EventLog(home / "events")
    BUILT.append(timed(log.index_identities)[0])
    gone = next(p for p in people if p.id in recent and p.id != person_id and recent[p.id] == app and
                any(pid == p.id for pid, _ in log.person_identities(p.userName)))
    with Store.open(home) as store:
        store.users.remove(gone.id)
        store.flush()
    return (months, recent, person.userName, person.email, cutoff.replace("+00:00", "Z"), gone.userName,
            person.displayName)


def appends_rows(tmp: Path, home: Path, month: str, checkouts: dict[str, tuple[Path, Path]], env: dict[str, str],
                 count: int) -> None:
    """What keeping the identities file and the person index costs an append: `count` appends of one event each to a
    copy of the newest month (with its side files), by the code of each checkout, in a new process each."""
    for tag, (code, _) in checkouts.items():
        events = tmp / f"appends{tag.strip(' []')}" / "events"
        events.mkdir(parents=True)
        shutil.copy2(home / "events" / f"{month}.jsonl", events / f"{month}.jsonl")
        for sub, ext in (("identities", "jsonl"), ("by-person", "idx")):
            if (home / "events" / sub / f"{month}.{ext}").exists():
                (events / sub).mkdir(exist_ok=True)
                shutil.copy2(home / "events" / sub / f"{month}.{ext}", events / sub / f"{month}.{ext}")
        _, _, out = process([sys.executable, "-c", APPENDS, str(events), month, str(count)],
                            {**env, "PYTHONPATH": str(code)}, code)
        cpu = sorted(json.loads(out))
        print(f"append of one event{tag:<16} median {statistics.median(cpu) * 1000:.3f} ms CPU, mean "
              f"{statistics.fmean(cpu) * 1000:.3f} ms, max {cpu[-1] * 1000:.1f} ms ({count} appends after the first, "
              "fsync each)")
        shutil.rmtree(events.parent)


def people_named(home: Path, name: str) -> int:
    with Store.open(home, readonly=True) as store:
        return sum(1 for u in store.users.all() if u.displayName == name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--appends", type=int, default=6000, help="appends timed, one event each")
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="also time the new-process cases with the code of the checkout DIR (before/after)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="idconsole-bench-report-"))
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    home = tmp / "home"
    t = time.perf_counter()
    months, recent, user_name, email, cutoff, gone, display = build(home, args.people, args.events)
    plain = tmp / "home-months-only"  # the same home without identities files: the lookup reads every month
    plain.mkdir(mode=0o700)
    for name in ("state.json", "state.index"):  # the same files (links: the state's index checks its file's inode)
        os.link(home / name, plain / name)
    shutil.copytree(home / "events", plain / "events", copy_function=os.link,
                    ignore=shutil.ignore_patterns("identities", "by-person"))
    searched = tmp / "home-searched"  # the same home without the months' person indexes: the months are searched
    searched.mkdir(mode=0o700)
    for name in ("state.json", "state.index"):
        os.link(home / name, searched / name)
    shutil.copytree(home / "events", searched / "events", copy_function=os.link,
                    ignore=shutil.ignore_patterns("by-person"))
    indexed = BUILT[0]
    side = sum(f.stat().st_size for f in (home / "events" / "identities").glob("*.jsonl"))
    by_person = sum(f.stat().st_size for f in (home / "events" / "by-person").glob("*.idx"))
    logged = sum(f.stat().st_size for f in (home / "events").glob("*.jsonl"))
    os.sync()
    person_id, app = next(iter(recent.items()))
    print(f"{args.events:,} events in {len(months)} monthly files, {args.people:,} people, 40 applications "
          f"(built in {time.perf_counter() - t:.1f} s); the query: --user {user_name} --app {app} --since 30d")
    print(f"identities files {side / 1e6:.1f} MB and person indexes {by_person / 1e6:.1f} MB for {logged / 1e6:.0f} MB "
          f"of months, built once in {indexed:.2f} s (a writer's first append on a home without them); deleted person: "
          f"--user {gone}")

    rows: list[tuple[str, float, str]] = []
    flt = ReportFilter(person=user_name, app=app, since="30d")
    with Store.open(home, readonly=True) as store:
        cold, found = timed(lambda: query(store, flt))
        warm, again = timed(lambda: query(store, flt))
        by_mail, mailed = timed(lambda: query(store, ReportFilter(person=email, app=app, since="30d")))
        failures, failed = timed(lambda: query(store, ReportFilter(status="failure", since="30d")))
    assert isinstance(found, list) and isinstance(again, list) and isinstance(mailed, list)
    assert isinstance(failed, list) and len(found) == len(again) == len(mailed) > 0
    rows += [("in process, cold (fresh Store)", cold, f"{len(found)} events"),
             ("in process, warm", warm, f"{len(again)} events"),
             ("in process, by e-mail", by_mail, f"{len(mailed)} events"),
             ("in process, status=failure + 30d", failures, f"{len(failed)} events")]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(tmp / "pyc"), NO_COLOR="1")
    checkouts = {"": (ROOT, home)}
    if args.compare is not None:
        other = args.compare.resolve()
        other_home = tmp / "home-compare"
        other_home.mkdir(mode=0o700)
        shutil.copy2(home / "state.json", other_home / "state.json")
        shutil.copytree(home / "events", other_home / "events", copy_function=os.link)
        subprocess.run([sys.executable, "-c", INDEX_IT, str(other_home)], env={**env, "PYTHONPATH": str(other)},
                       cwd=other, check=True)  # its own index, as its writer makes it
        checkouts[f" [{other.name}]"] = (other, other_home)
    cases: dict[str, tuple[list[str], Path, dict[str, str]]] = {}
    departed = {"deleted": gone, "unknown": "nobody.here@example.invalid"}
    for kind, who in departed.items():
        for tag, where in (("", home), (", months read", plain)):
            cases[f"new process: imports [{kind}{tag}]"] = ([sys.executable, "-c", CHILD, str(where), who, app], ROOT,
                                                           {**env, "PYTHONPATH": str(ROOT)})
    labels = {"name": display, "unknown e-mail": departed["unknown"]}  # labels without a run of digits
    lookups = {"person": user_name, "deleted": gone, **labels}
    for kind, who in lookups.items():  # the same home without the person indexes: the months' bytes searched
        cases[f"new process: imports [{kind}, months searched]"] = (
            [sys.executable, "-c", CHILD, str(searched), who, app], ROOT, {**env, "PYTHONPATH": str(ROOT)})
    for tag, (code, where) in checkouts.items():
        case_env = {**env, "PYTHONPATH": str(code)}
        cases[f"new process: imports{tag}"] = ([sys.executable, "-c", CHILD, str(where), user_name, app], code, case_env)
        for kind, label in labels.items():
            cases[f"new process: imports [{kind}]{tag}"] = ([sys.executable, "-c", CHILD, str(where), label, app], code,
                                                           case_env)
        cases[f"idconsole report, whole process{tag}"] = (
            [sys.executable, "-m", "console", "--home", str(where), "report", "--user", user_name, "--app", app,
             "--since", "30d"], code, case_env)
        cases[f"baseline: import console.cli only{tag}"] = ([sys.executable, "-c", "import console.cli"], code,
                                                            case_env)
    for command, cwd, case_env in cases.values():  # writes the bytecode
        process(command, case_env, cwd)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    queries: dict[str, list[float]] = {name: [] for name in cases}
    rss: dict[str, list[int]] = {name: [] for name in cases}
    counts: dict[str, set[int]] = {name: set() for name in cases}
    for _ in range(args.repeat):  # interleaved, so that load hits every case alike
        for name, (command, cwd, case_env) in cases.items():
            _children_cpu()
            wall, cpu, out = process(command, case_env, cwd)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if command[1] == "-c" and command[2] == CHILD:
                child = json.loads(out)
                counts[name].add(child["count"])
                rss[name].append(child["rss"])
                walls[name][-1] = child["imports"]  # this case's wall: its imports (the query apart)
                queries[name].append(child["query"])
    for tag in checkouts:
        name = f"new process: imports{tag}"
        assert counts[name] == {len(found)}, counts[name]
        rows.append((f"new process, cold: open + query{tag}", statistics.median(queries[name]),
                     f"median of {args.repeat}; its imports {statistics.median(walls[name]) * 1000:.0f} ms"))
    label_rows = []
    for kind, label in labels.items():
        for tag in checkouts:
            name_case = f"new process: imports [{kind}]{tag}"
            assert len(counts[name_case]) == 1, counts[name_case]
            label_rows.append((f"{kind}{tag}", label, statistics.median(queries[name_case]), max(rss[name_case]) / 1024,
                               min(counts[name_case])))
        if len(checkouts) > 1:
            assert len({min(counts[f"new process: imports [{kind}]{tag}"]) for tag in checkouts}) == 1, kind
    index_rows = []
    for kind in lookups:
        fast = f"new process: imports [{kind}]" if kind != "person" else "new process: imports"
        slow = f"new process: imports [{kind}, months searched]"
        assert counts[fast] == counts[slow] and len(counts[fast]) == 1, (kind, counts[fast], counts[slow])
        index_rows.append((kind, statistics.median(queries[fast]), statistics.median(queries[slow]), min(counts[fast])))
    gone_rows = []
    for kind in departed:
        fast, slow = f"new process: imports [{kind}]", f"new process: imports [{kind}, months read]"
        assert counts[fast] == counts[slow] and len(counts[fast]) == 1, (counts[fast], counts[slow])
        assert (min(counts[fast]) > 0) == (kind == "deleted"), counts[fast]
        gone_rows.append((kind, statistics.median(queries[fast]), statistics.median(queries[slow]),
                          max(rss[fast]) / 1024, max(rss[slow]) / 1024, min(counts[fast])))

    base = naive_log_baseline(tmp, home, months, person_id, app, cutoff)
    for name, seconds, note in rows:
        judged = name.startswith(("in process, cold", "new process, cold"))
        verdict = ("PASS" if seconds <= TARGET else "MISS") if judged else ""
        print(f"{name:<48} {seconds * 1000:8.1f} ms  {verdict:4}  {note}; "
              f"{base['query_cold'] / seconds:.0f}x faster than the baseline")
    print(f"{'baseline: one file, parse all':<48} {base['query_cold'] * 1000:8.1f} ms  (same run)")
    print()
    for kind, fast, slow, fast_rss, slow_rss, count in gone_rows:
        verdict = "PASS" if fast <= TARGET else "MISS"
        print(f"new process, cold, {kind + ' person':<17} {fast * 1000:8.1f} ms  {verdict:4}  peak RSS {fast_rss:.0f} MB, "
              f"{count} events; baseline (same home, months read) {slow * 1000:.1f} ms, {slow_rss:.0f} MB: "
              f"{slow / fast:.1f}x faster (median of {args.repeat})")
    print()
    for kind, label, seconds, peak, count in label_rows:
        verdict = "PASS" if seconds <= TARGET else "MISS"
        print(f"new process, cold, by {kind:<26} {seconds * 1000:8.1f} ms  {verdict:4}  --user {label!r}, {count} events, "
              f"peak RSS {peak:.0f} MB (median of {args.repeat})")
    print(f"  {display!r} is the display name of {people_named(home, display)} people: their ids are looked up at once")
    print()
    for kind, fast, slow, count in index_rows:
        print(f"new process, cold, {kind:<15} {fast * 1000:8.1f} ms through the person indexes against {slow * 1000:.1f} "
              f"ms with the months searched (same home without them): {slow / fast:.1f}x faster, {count} events "
              f"(median of {args.repeat})")
    print()
    for tag in checkouts:
        whole, floor = f"idconsole report, whole process{tag}", f"baseline: import console.cli only{tag}"
        for name in (whole, floor):
            print(f"{name:<52} {min(walls[name]) * 1000:7.0f} ms wall, {min(cpus[name]) * 1000:5.0f} ms CPU "
                  f"(best of {args.repeat}; median {statistics.median(walls[name]) * 1000:.0f} ms wall)")
        print(f"  the report adds {(min(walls[whole]) - min(walls[floor])) * 1000:.0f} ms wall, "
              f"{(min(cpus[whole]) - min(cpus[floor])) * 1000:.0f} ms CPU to the import-only process "
              f"({min(walls[whole]) / min(walls[floor]):.2f}x its wall, {min(cpus[whole]) / min(cpus[floor]):.2f}x its "
              "CPU)")
    appends_rows(tmp, home, months[-1], checkouts, env, args.appends)
    print(f"target ≤ {TARGET * 1000:.0f} ms cold; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other processes' load inflates every wall time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

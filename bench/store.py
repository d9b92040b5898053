"""Store and event-log benchmark: 100k people, 1M events over 12 months, against naive baselines.

Run from the repository root: `python bench/store.py` (`--people`/`--events` to scale down). It builds a
throw-away home in a temp directory, prints each figure with its target and PASS/MISS, and the ratio
against a baseline measured in this same process (TinyDB's default JSONStorage, a single-file event log).
It stops by itself and removes everything it wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's `console`, not an installed one

import orjson  # noqa: E402
from tinydb import TinyDB  # noqa: E402
from tinydb.storages import JSONStorage  # noqa: E402

from console import reports  # noqa: E402
from console.eventlog import EventLog  # noqa: E402
from console.models import Event, User  # noqa: E402
from console.service import Service  # noqa: E402
from console.store import Store  # noqa: E402

GIVEN = ["Zoë", "Seán", "小龙", "Ñúñez", "Anna", "Jörg", "Ольга", "Mariam", "Kenji", "Aoife", "Łukasz", "Chloé"]
FAMILY = ["Ångström", "O'Brien", "李", "Ibáñez", "Smith", "Müller", "Иванова", "Haddad", "Sato", "Murphy", "Wójcik"]
DEPTS = ["Sales", "Engineering", "Finance", "HR", "Support", "Legal", "Marketing", "Operations"]
ACTIONS = ["create", "update", "update", "update", "deactivate", "reactivate", "member_add", "member_remove",
           "import_update", "delete"]
TARGETS = {"open": 1.0, "filter": None, "update_flush": 0.150, "append": 0.001, "query_cold": 0.100,
           "query_warm": 0.100}


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of `repeat` runs, in seconds."""
    return timed_cpu(fn, repeat)[0]


def timed_cpu(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Median wall time and median CPU time of this process over `repeat` runs, in seconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def make_people(n: int) -> list[User]:
    rnd = random.Random(1)
    people = []
    for i in range(n):
        given, family = rnd.choice(GIVEN), rnd.choice(FAMILY)
        people.append(User(
            employeeId=f"E{i:07d}", userName=f"u{i:07d}", givenName=given, familyName=family,
            displayName=f"{given} {family}", emails=[f"u{i:07d}@example.com"], department=rnd.choice(DEPTS),
            title="Engineer" if i % 3 else "Manager",
        ))
    return people


def write_events(home: Path, people: list[User], n: int, now: datetime) -> tuple[list[str], dict[str, str]]:
    """n events spread over the 12 months before `now`, written as the event log writes them (one file a month)."""
    rnd = random.Random(2)
    apps = [f"app{i:02d}" for i in range(40)]
    keys = list(Event(action="create", status="success").to_doc())
    span = 365 * 86400
    seconds = sorted(rnd.randrange(span) for _ in range(n))
    start = now - timedelta(seconds=span)
    events_dir = home / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    recent: dict[str, str] = {}  # person id -> app, for an event in the last 30 days
    cutoff = (now - timedelta(days=30)).isoformat(timespec="seconds").replace("+00:00", "Z")
    buffers: dict[str, list[bytes]] = {}
    for offset in seconds:
        when = (start + timedelta(seconds=offset)).isoformat(timespec="seconds").replace("+00:00", "Z")
        person = rnd.choice(people)
        app = rnd.choice(apps)
        action = rnd.choice(ACTIONS)
        doc = dict.fromkeys(keys, "")
        doc.update(action=action, status="success" if rnd.random() < 0.95 else "failure", app=app,
                   person=person.userName, person_id=person.id, run=f"run{offset // 3600}", operator="ops@10.0.0.1",
                   changes={"title": ["Engineer", "Manager"]} if action == "update" else {}, time=when)
        buffers.setdefault(when[:7], []).append(orjson.dumps(doc) + b"\n")
        if when >= cutoff:
            recent[person.id] = app
    for month, lines in buffers.items():
        (events_dir / f"{month}.jsonl").write_bytes(b"".join(lines))
    return sorted(buffers), recent


def open_in_fresh_process(home: Path) -> tuple[float, float]:
    """Seconds `Store.open` takes in a new interpreter (imports done first, not counted)."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from console.store import Store; "
            "t, c = time.perf_counter(), time.process_time(); s = Store.open(sys.argv[2], readonly=True); "
            "print(time.perf_counter() - t, time.process_time() - c)")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1]), str(home)],
                         capture_output=True, text=True, check=True, timeout=120)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def first_write_in_fresh_process(home: Path, user_name: str, *, derive: bool) -> tuple[float, float, float, float]:
    """Seconds (wall, CPU) of a new writer process's load of every person, then of its first one-person update +
    flush (the open is not counted): its index rows taken from the index it opened, or (`derive`) derived again from
    every document, as before (`state_index.seed` does nothing)."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from console import state_index; "
            "from console.store import Store; "
            "state_index.seed = (lambda *a: None) if sys.argv[4] == 'derive' else state_index.seed; "
            "s = Store.open(sys.argv[2]); p = s.users.find(sys.argv[3]); p.title = 'First ' + sys.argv[4]; "
            "t, c = time.perf_counter(), time.process_time(); s.load_whole(); "
            "t1, c1 = time.perf_counter(), time.process_time(); s.users.put(p); s.flush(); "
            "print(t1 - t, c1 - c, time.perf_counter() - t1, time.process_time() - c1); s.close()")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1]), str(home), user_name,
                          "derive" if derive else "seeded"], capture_output=True, text=True, check=True, timeout=300)
    load_wall, load_cpu, wall, cpu = (float(x) for x in out.stdout.split())
    return load_wall, load_cpu, wall, cpu


def tinydb_baseline(tmp: Path, people: list[User]) -> dict[str, float]:
    """TinyDB's default JSONStorage on the same people: open + all(), one-person update, a search."""
    path = tmp / "tinydb-default.json"
    path.write_text(json.dumps({"users": {str(i + 1): p.to_doc() for i, p in enumerate(people)}}), encoding="utf-8")
    out: dict[str, float] = {}
    db = TinyDB(str(path), storage=JSONStorage)
    table = db.table("users", cache_size=0)
    out["open"] = timed(lambda: table.all())
    out["filter"] = timed(lambda: table.search(lambda d: "sales" in d["department"].casefold()
                                                and "ångström" in d["displayName"].casefold()))
    out["update_flush"] = timed(lambda: table.update({"title": "Director"}, doc_ids=[len(people) // 2]), repeat=2)
    db.close()
    path.unlink()
    return out


def naive_log_baseline(tmp: Path, home: Path, months: list[str], person_id: str, app: str,
                       since: str) -> dict[str, float]:
    """One JSON-lines file for every event: append = open/write/fsync/close, query = parse every line."""
    single = tmp / "events-single.jsonl"
    with open(single, "wb") as out:
        for month in months:
            with open(home / "events" / f"{month}.jsonl", "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    line = orjson.dumps(Event(action="update", status="success", app=app).to_doc()) + b"\n"

    def append() -> None:
        with open(single, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def query() -> list[dict[str, object]]:
        with open(single, "rb") as fh:
            recs = [orjson.loads(raw) for raw in fh]
        return [r for r in recs if r["person_id"] == person_id and r["app"] == app and r["time"] >= since]

    result = {"append": timed(append, repeat=50), "query_cold": timed(query)}
    result["query_warm"] = result["query_cold"]
    single.unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp home (for profiling)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="idconsole-bench-"))
    home = tmp / "home"
    try:
        return run(args, tmp, home)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


def run(args: argparse.Namespace, tmp: Path, home: Path) -> int:
    now = datetime.now(timezone.utc)
    print(f"building {args.people:,} people and {args.events:,} events in {tmp} …", flush=True)
    t0 = time.perf_counter()
    people = make_people(args.people)
    with Store.open(home) as store:
        load = timed(lambda: store.users.put_many(people))
        first_flush = timed(store.flush)
    months, recent = write_events(home, people, args.events, now)
    os.sync()  # the 250 MB just written would otherwise be written back during the first fsyncs measured
    size = (home / "state.json").stat().st_size / 1e6
    print(f"  put_many {load:.2f} s, first flush {first_flush:.2f} s, state.json {size:.1f} MB, "
          f"{len(months)} month files; built in {time.perf_counter() - t0:.1f} s", flush=True)

    figures: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of our process: what other processes' load does not inflate
    extra: dict[str, str] = {}
    ratios: dict[str, tuple[float, str]] = {}  # a baseline measured here, in this process, with its name

    runs = [open_in_fresh_process(home) for _ in range(3)]
    figures["open"], cpu["open"] = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    extra["open"] = "in a fresh process, as a CLI run sees it (median of 3)"

    user_name = people[len(people) // 3].userName
    firsts: dict[str, list[tuple[float, float, float, float]]] = {"derive": [], "seeded": []}
    for _ in range(3):  # interleaved, so that load hits both alike
        for mode, runs_of in firsts.items():
            runs_of.append(first_write_in_fresh_process(home, user_name, derive=mode == "derive"))
    for key, mode in (("first_write", "seeded"), ("first_write_derive", "derive")):
        figures[key] = statistics.median(r[2] for r in firsts[mode])
        cpu[key] = statistics.median(r[3] for r in firsts[mode])
        load_wall = statistics.median(r[0] for r in firsts[mode])
        load_cpu = statistics.median(r[1] for r in firsts[mode])
        extra[key] = (f"after loading every person ({fmt(load_wall)}, CPU {fmt(load_cpu)}"
                      + (", with the seed)" if mode == "seeded" else ")") + "; median of 3 new processes"
                      + ("" if mode == "seeded" else ": the baseline, every row derived again (before)"))
    ratios["first_write"] = (figures["first_write_derive"], "first_write_derive")

    store = Store.open(home)
    try:
        svc = Service(store, operator="bench")
        hits = len(svc.users("sales ångström"))
        figures["filter"], cpu["filter"] = timed_cpu(lambda: svc.users("sales ångström"), repeat=5)
        extra["filter"] = f"{hits:,} of {args.people:,} match"

        person = store.users.find(people[len(people) // 2].userName)
        assert person is not None

        event = Event(action="update", status="success", app="app00", person=person.userName, person_id=person.id,
                      operator="bench", changes={"title": ["Engineer", "Director"]})
        n = 100
        wall, used = timed_cpu(lambda: [store.events.append(event) for _ in range(n)], repeat=3)
        figures["append"], cpu["append"] = wall / n, used / n
        extra["append"] = f"median of 3 runs of {n}"
        batch = [event] * 100
        wall, used = timed_cpu(lambda: [store.events.append_many(batch) for _ in range(20)])
        per_batch = wall / 20
        figures["append_batch100"], cpu["append_batch100"] = per_batch / 100, used / 2000
        extra["append_batch100"] = f"{per_batch * 1000:.1f} ms per batch of 100"

        def update() -> None:
            person.title = "Director" if person.title != "Director" else "Engineer"
            store.users.put(person)
            store.flush()

        figures["update_flush"], cpu["update_flush"] = timed_cpu(update, repeat=10)

        def update_cold() -> None:  # what every write cost before the index kept its rows (and a process's first)
            store._index_cache.clear()
            update()

        figures["update_cold"], cpu["update_cold"] = timed_cpu(update_cold, repeat=3)
        extra["update_cold"] = "the index derived whole: each write before rows were kept"
        ratios["update_flush"] = (figures["update_cold"], "update_cold")

        other = Store.open(home)  # a second operator: each of its writes makes ours catch up first
        walls, cpus = [], []
        for i in range(5):
            someone = other.users.find(people[i].userName)
            assert someone is not None
            someone.title = f"Other {i}"
            other.users.put(someone)
            other.flush()
            wall, used = timed_cpu(update)
            walls.append(wall)
            cpus.append(used)
        other.close()
        figures["update_after_other"], cpu["update_after_other"] = statistics.median(walls), statistics.median(cpus)
        extra["update_after_other"] = "another process wrote first: read its state, merge, write (median of 5)"

        pid, app = next(iter(recent.items()))
        target = store.users.get(pid)
        assert target is not None
        flt = reports.ReportFilter(person=target.userName, app=app, since="30d")
        store.events.close()
        store.events = EventLog(home / "events")  # an empty in-process cache: what a CLI run sees
        found = reports.query(store, flt)
        store.events = EventLog(home / "events")
        figures["query_cold"], cpu["query_cold"] = timed_cpu(lambda: reports.query(store, flt))
        figures["query_warm"], cpu["query_warm"] = timed_cpu(lambda: reports.query(store, flt), repeat=5)
        extra["query_cold"] = f"{len(found)} events of person {target.userName} in {app}, last 30 days"
        since = (now - timedelta(days=30)).isoformat(timespec="seconds").replace("+00:00", "Z")
    finally:
        store.close()

    print("measuring baselines …", flush=True)
    base = tinydb_baseline(tmp, people)
    base.update(naive_log_baseline(tmp, home, months, pid, app, since))
    base["append_batch100"] = base["append"]

    print()
    labels = {
        "open": f"open ({args.people:,} people)",
        "filter": "people filter (2 words)",
        "update_flush": "one-person update + flush",
        "update_cold": "  … index derived whole",
        "update_after_other": "update + flush after another",
        "first_write": "first write of a process",
        "first_write_derive": "  … index derived whole",
        "append": "event append, fsync each",
        "append_batch100": "event append, batch of 100",
        "query_cold": "report query cold",
        "query_warm": "report query warm",
    }
    print(f"{'measure':<30}{'value':>11}{'cpu':>11}{'target':>11}  {'':5}{'baseline':>11}{'ratio':>9}  notes")
    missed = 0
    for key, label in labels.items():
        value = figures[key]
        target = TARGETS.get(key, TARGETS["append"] if key.startswith("append") else None)
        verdict = "" if target is None else ("PASS" if value <= target else "MISS")
        missed += verdict == "MISS"
        b = base.get(key)
        ratio = f"{b / value:8.1f}x" if b else ""
        if key in ratios:
            extra[key] = f"{ratios[key][0] / value:.1f}x faster than {ratios[key][1]} (same run); " + extra.get(key, "")
        print(f"{label:<30}{fmt(value):>11}{fmt(cpu[key]):>11}{fmt(target) if target else '-':>11}  {verdict:5}"
              f"{fmt(b) if b else '-':>11}{ratio:>9}  {extra.get(key, '')}")
    print("\nvalue = wall time (judged against the target); cpu = CPU time of the measuring process.")
    print("ratio = baseline time / idconsole time (higher is better). Baselines: TinyDB default JSONStorage "
          "(open = all(), filter = search(), update = update(doc_ids=[one])); single-file JSONL log "
          "(append = open+write+fsync+close, query = parse every line).")
    print(f"{missed} target(s) missed; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other processes' load inflates every figure)")
    return 1 if missed else 0


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    raise SystemExit(main())

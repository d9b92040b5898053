"""The provisioning report at 1M events: filter by person + application + 30 days; target ≤ 100 ms cold (issue 16).

Measured through `console.reports.query` (what `idconsole report` and the console call), cold (a fresh
Store: month files read from disk) and warm (cached), against a baseline in the same run: one file
holding every event, each line parsed, then filtered. Also: the same query by e-mail and a
status-only filter over the span (no byte screening possible for the person).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import make_people, naive_log_baseline, write_events  # noqa: E402  (bench/store.py)

from console.reports import ReportFilter, query  # noqa: E402
from console.store import Store  # noqa: E402

TARGET = 0.100


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        people = make_people(args.people)
        with Store.open(home) as store:
            store.users.put_many(people)
        now = datetime.now(timezone.utc)
        t = time.perf_counter()
        months, recent = write_events(home, people, args.events, now)
        print(f"{args.events:,} events in {len(months)} monthly files, {args.people:,} people "
              f"(generated in {time.perf_counter() - t:.1f} s)")
        person_id, app = next(iter(recent.items()))
        with Store.open(home, readonly=True) as store:
            person = store.users.get(person_id)
        flt = ReportFilter(person=person.userName, app=app, since="30d")
        rows = []
        with Store.open(home, readonly=True) as store:
            cold, found = timed(lambda: query(store, flt))
            warm, again = timed(lambda: query(store, flt))
            by_mail, _ = timed(lambda: query(store, ReportFilter(person=person.email, app=app, since="30d")))
            failures, failed = timed(lambda: query(store, ReportFilter(status="failure", since="30d")))
        assert len(found) == len(again) > 0
        cutoff = datetime.fromtimestamp(now.timestamp() - 30 * 86400, timezone.utc).isoformat(timespec="seconds")
        base = naive_log_baseline(Path(tmp), home, months, person_id, app, cutoff.replace("+00:00", "Z"))
        rows.append(("person + app + 30d, cold", cold, len(found)))
        rows.append(("person + app + 30d, warm", warm, len(again)))
        rows.append(("by e-mail + app + 30d", by_mail, len(found)))
        rows.append(("status=failure + 30d", failures, len(failed)))
        for name, seconds, count in rows:
            verdict = "PASS" if seconds <= TARGET else "MISS"
            print(f"{name:<28} {seconds * 1000:8.1f} ms  ({count} events)  target ≤ {TARGET * 1000:.0f} ms {verdict}")
        print(f"{'baseline: one file, parse all':<28} {base['query_cold'] * 1000:8.1f} ms   "
              f"ratio cold {base['query_cold'] / cold:.0f}x, warm {base['query_cold'] / warm:.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

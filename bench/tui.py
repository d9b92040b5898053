"""The console with 100k people: start to the first screen, the people screen's first rows, and the
filter's keystroke latency (key pressed → table shows that filter's matches). Headless (Textual's
run_test), on a temp home seeded with store.users.put_many + flush.

Targets (issue 16): first screen with rows ≤ 1 s, filter keystroke ≤ 100 ms. Baselines in the same run: Textual's
built-in DataTable given all 100k rows (capped), filtering by reloading it with every match, and the
console's filter answered by a plain scan of every person instead of the people index (console/people_index.py).
Run: python bench/tui.py [PEOPLE]. Stops by itself (every wait has a deadline).
"""
from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from console.models import User  # noqa: E402
from console.service import Service  # noqa: E402
from console.store import Store  # noqa: E402
from screens.app import make_app  # noqa: E402
from screens.users import UsersScreen  # noqa: E402

PEOPLE = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
START_TARGET, KEY_TARGET = 1.0, 0.100
BASELINE_CAP = 30.0
GIVEN = ["Ada", "Bo", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mia", "Nils"]
FAMILY = ["Smith", "Garcia", "Ivanov", "Li", "Okafor", "Berg", "Dubois", "Tanaka", "Silva", "Novak", "Khan", "Meyer"]
DEPARTMENTS = ["Engineering", "Sales", "Support", "Finance", "IT", "Marketing", "Legal", "Product"]
# (label, keys typed one by one): common words, a narrowing name, and a rare key (a full scan per key)
TYPING = [("common prefix 'ada'", "ada"), ("name 'ada smith'", "ada smith"), ("rare key 'e099999'", "e099999"),
          ("no match 'zzq'", "zzq")]


def people(n: int) -> list[User]:
    rng = random.Random(1)
    found = []
    for i in range(n):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        name = f"{given}.{family}{i}".lower()
        found.append(User(employeeId=f"E{i:06d}", userName=name, givenName=given, familyName=family,
                          displayName=f"{given} {family}", emails=[f"{name}@corp.example"],
                          department=rng.choice(DEPARTMENTS), title="Staff"))
    return found


async def until(condition, deadline: float, step: float = 0.002) -> bool:  # type: ignore[no-untyped-def]
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def plain_scan(service: Service, text: str = "", *, limit: int | None = None) -> list[User]:
    """Baseline: the filter answered by one Python test per person, without the people index."""
    words = text.casefold().split()
    found = []
    for user in service.store.users:
        hay = " ".join((user.employeeId, user.userName, user.displayName, user.department, user.title,
                        *user.emails)).casefold()
        if all(w in hay for w in words):
            found.append(user)
            if limit is not None and len(found) >= limit:
                break
    return found


async def console_figures(service: Service, *, service_search: bool = False) -> dict[str, object]:
    figures: dict[str, object] = {}
    t0 = time.perf_counter()
    app = make_app(None, service=service)
    if service_search:
        service.users = lambda text="", limit=None: plain_scan(service, text, limit=limit)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: "people" in str(app.screen.query_one("#counts").content), t0 + 60)
        figures["dashboard"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        table = screen.query_one("#people", DataTable)
        await until(lambda: table.row_count > 0, t1 + 60)
        await pilot.pause()
        figures["users_rows"] = time.perf_counter() - t0
        figures["users_after_key"] = time.perf_counter() - t1
        await pilot.press("slash")
        await pilot.pause()
        for label, text in TYPING:
            latencies = []
            for n in range(1, len(text) + 1):
                # a key event as the terminal driver posts it (Pilot.press adds ~60 ms of its own waiting)
                character = text[n - 1]
                started = time.perf_counter()
                app.post_message(events.Key("space" if character == " " else character, character))
                ok = await until(lambda: screen.shown_text == text[:n], started + 10)
                latencies.append(time.perf_counter() - started if ok else float("inf"))
                await asyncio.sleep(0.03)  # the repaint, and a fast typist's gap before the next key
            figures[label] = latencies
            screen.query_one("#filter").value = ""
            await until(lambda: screen.shown_text == "", time.perf_counter() + 10)
    return figures


class PlainTable(App[None]):
    """The baseline: Textual's DataTable holding every person."""

    def compose(self) -> ComposeResult:
        yield DataTable(id="t")


async def baseline_figures(everyone: list[User]) -> dict[str, float]:
    rows = [(u.employeeId, u.userName, u.displayName, u.department, u.status) for u in everyone]
    figures: dict[str, float] = {}
    app = PlainTable()
    t0 = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns("key", "userName", "name", "department", "status")
        table.add_rows(rows)
        await pilot.pause()
        figures["load"] = time.perf_counter() - t0
        # filtering the built-in way: clear and add every match of one keystroke ('a': most rows)
        t1 = time.perf_counter()
        table.clear()
        table.add_rows([r for r in rows if "a" in " ".join(r).casefold()])
        await pilot.pause()
        figures["refilter"] = time.perf_counter() - t1
    return figures


def fmt(seconds: float) -> str:
    return "timeout" if seconds == float("inf") else f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="idconsole-bench-tui-") as tmp:
        home = Path(tmp) / "home"
        everyone = people(PEOPLE)
        t = time.perf_counter()
        with Store.open(home) as store:
            store.users.put_many(everyone)
            store.flush()
        print(f"seeded {PEOPLE:,} people in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        store = Store.open(home)
        store_open = time.perf_counter() - t
        try:
            figures = await console_figures(Service(store))
            plain = await console_figures(Service(store), service_search=True)
        finally:
            store.close()
        try:
            base = await asyncio.wait_for(baseline_figures(everyone), BASELINE_CAP)
        except asyncio.TimeoutError:
            base = {"load": float("inf"), "refilter": float("inf")}

    rows = float(figures["users_rows"])  # type: ignore[arg-type]
    print(f"\nstore open (core, before the console starts): {fmt(store_open)}")
    print(f"console start → dashboard with counts:        {fmt(float(figures['dashboard']))}")  # type: ignore[arg-type]
    print(f"console start → people screen shows rows:     {fmt(rows)}   target ≤ {START_TARGET} s "
          f"{'OK' if rows <= START_TARGET else 'MISSED'}")
    total = store_open + rows
    print(f"  (key 2 → rows: {fmt(float(figures['users_after_key']))}; "  # type: ignore[arg-type]
          f"store open + console start → rows: {fmt(total)} {'OK' if total <= START_TARGET else 'MISSED'})")
    base_load = base["load"]
    ratio = "(baseline hit the cap)" if base_load == float("inf") else f"{base_load / rows:.0f}× faster"
    print(f"baseline DataTable with all {PEOPLE:,} rows:    {fmt(base_load) if base_load != float('inf') else f'> {BASELINE_CAP:.0f} s'}"
          f"   → console {ratio}")
    print("\nfilter keystroke → table updated (per key):")
    worst_all = 0.0
    for label, _ in TYPING:
        latencies = figures[label]
        assert isinstance(latencies, list)
        worst = max(latencies)
        worst_all = max(worst_all, worst)
        print(f"  {label:<22} median {fmt(statistics.median(latencies)):>7}  worst {fmt(worst):>7}   "
              + " ".join(fmt(x) for x in latencies))
    print(f"  worst overall {fmt(worst_all)}   target ≤ {KEY_TARGET * 1000:.0f} ms "
          f"{'OK' if worst_all <= KEY_TARGET else 'MISSED'}")
    print("baseline: the same keys answered by Service.users (no index):")
    for label, _ in TYPING:
        ours, theirs = figures[label], plain[label]
        assert isinstance(ours, list) and isinstance(theirs, list)
        print(f"  {label:<22} median {fmt(statistics.median(theirs)):>7}  worst {fmt(max(theirs)):>7}   "
              f"→ Service.users / index = {statistics.median(theirs) / statistics.median(ours):.1f}× (median)")
    refilter = base["refilter"]
    if refilter != float("inf"):
        print(f"baseline: reload the DataTable with one keystroke's matches: {fmt(refilter)} "
              f"→ console median {refilter / statistics.median(figures[TYPING[0][0]]):.0f}× faster")  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main())

"""FitTable at 100k rows: the cost of re-fitting the columns to the rows in view (done on every scroll and cursor
move), headless (Textual's run_test) at 80×24. Baselines in the same run: the same fit measuring every loaded row
(sizing to all rows, recomputed), and a page-down cursor move on Textual's plain DataTable beside FitTable's.
No peer. Run: python bench/fit.py [ROWS]. Stops by itself."""
from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from screens.fit import CutLine, FitTable  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
COLUMNS = ("UTC", "app", "person / object", "action", "status")


def row(n: int) -> tuple[str, ...]:
    person = "venkatanarayanan.ramasubramanian" if n == ROWS // 2 else f"person.{n % 997}"
    return ("11-30 13:39", "-", person, "member_add_local" if n % 3 else "import_create", "success")


class AllRows(FitTable):
    """The baseline fit: every loaded row measured (the table sized to all rows)."""

    def rows_in_view(self) -> list[int]:
        return list(range(self.row_count))


class Bench(App[None]):
    def __init__(self, table: DataTable[Any]) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table
        if isinstance(self.table, FitTable):
            yield CutLine(self.table)


def fit_table(cls: type[FitTable]) -> FitTable:
    return cls(cursor_type="row", identifying=("app", "person / object"), gives_way=("action",),
               floors={"UTC": 11, "status": 7})


async def timed(table: DataTable[Any], work: str, times: int) -> float:
    """Median seconds of one `work` ("fit" or "page": a page-down cursor move, the screen refreshed)."""
    app = Bench(table)
    samples = []
    async with app.run_test(size=(80, 24)) as pilot:
        for label in COLUMNS:
            table.add_column(label, key=label)
        for n in range(ROWS):
            table.add_row(*row(n))
        await pilot.pause()
        table.focus()
        for _ in range(times):
            start = time.perf_counter()
            if work == "fit":
                assert isinstance(table, FitTable)
                table.fit()
            else:
                await pilot.press("pagedown")
                await pilot.pause()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main() -> None:
    view = await timed(fit_table(FitTable), "fit", 50)
    every = await timed(fit_table(AllRows), "fit", 3)
    print(f"{ROWS:,} rows, one fit: rows in view {view * 1e3:.2f} ms; every loaded row (baseline) "
          f"{every * 1e3:.1f} ms; ratio {view / every:.5f} (baseline {every / view:,.0f}× slower)")
    fitted = await timed(fit_table(FitTable), "page", 30)
    plain = await timed(DataTable(cursor_type="row"), "page", 30)
    print(f"page-down cursor move: FitTable {fitted * 1e3:.1f} ms; plain DataTable (baseline) {plain * 1e3:.1f} ms; "
          f"ratio {fitted / plain:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

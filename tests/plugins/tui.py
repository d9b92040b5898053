"""pytest plugin for the console tests: temp homes seeded through the Service, and a Pilot helper.

`tui_home`: 300 sample people (Service.import_users) and the 18 sample groups (Service.create_group +
change_members). `tui_scim_home`: the same plus `bitbucket-cloud`, an atlassian application added through
Service.add_app, pointing at a fresh scim2-server directory (its token in an environment variable).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from console import clock
from console.service import Service
from console.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SCIM_TOKEN_ENV = "IDCONSOLE_TUI_SCIM_TOKEN"
# The console tests' clock: the seeded home is written from T0 on, each test runs from T0 + 10 s on. It ticks
# (so runs and events keep their order) but never depends on when or how long ago the session started.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def ticking_from(start: datetime) -> Callable[[], datetime]:
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def seed_sample(home: Path) -> None:
    with Store.open(home) as store:
        svc = Service(store, operator="tester")
        result = svc.import_users(SAMPLE / "people.csv")
        assert not result.errors, result.errors[:3]
        for doc in orjson.loads((SAMPLE / "groups.json").read_bytes()):
            svc.create_group(doc["name"], doc.get("description", ""))
            if doc["members"]:
                svc.change_members(doc["name"], doc["members"], add=True)


@pytest.fixture(scope="session")
def _sample_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tui-template") / "home"
    clock.set_source(ticking_from(T0))
    try:
        seed_sample(home)
    finally:
        clock.set_source(None)
    return home


@pytest.fixture
def tui_home(tmp_path: Path, _sample_home_template: Path) -> Iterator[Path]:
    """A fresh copy of a home seeded with the sample people and groups (seeded once per session), on the
    tests' clock."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(_sample_home_template, home, ignore=shutil.ignore_patterns("lock"))
    clock.set_source(ticking_from(T0 + timedelta(seconds=10)))
    try:
        yield home
    finally:
        clock.set_source(None)


@pytest.fixture
def with_service() -> Callable[..., object]:
    """Run `fn(service)` on a home while no console holds it (seeding between steps)."""

    def run(home: Path, fn: Callable[[Service], object]) -> object:
        with Store.open(home) as store:
            return fn(Service(store, operator="tester"))

    return run


@pytest.fixture
def tui_scim_home(tui_home: Path, scim_directory, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SCIM_TOKEN_ENV, scim_directory.token)
    with Store.open(tui_home) as store:
        Service(store, operator="tester").add_app("atlassian", "bitbucket-cloud",
                                                   {"base_url": scim_directory.base_url, "timeout": 10},
                                                   {"token": f"env:{SCIM_TOKEN_ENV}"})
    return tui_home


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages reach the widgets (posted results need a few turns)."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def text_of(widget) -> str:  # type: ignore[no-untyped-def]
    """The plain text a Static/Label shows."""
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    """What the terminal shows now, line by line (the compositor's rendered strips, as plain text)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def rows_of(table) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """A DataTable's cells as plain strings, row by row."""
    return [[cell.plain if hasattr(cell, "plain") else str(cell) for cell in table.get_row_at(i)]
            for i in range(table.row_count)]


CONFIRM = ("tab", "enter")  # a confirmation: Tab from Cancel to the named button, Enter (no letter confirms)

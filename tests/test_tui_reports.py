"""The report screen: filters, an event's detail (before → after), CSV/JSON export; and the dashboard."""
from __future__ import annotations

import csv
import io

import orjson
from textual.widgets import DataTable, Input, Label, Static

from screens.app import make_app
from screens.modals import ErrorModal
from screens.reports import EventModal, ExportModal
from tests.plugins.tui import rows_of, settle, text_of


def seed_changes(svc) -> None:  # type: ignore[no-untyped-def]
    svc.edit_user("grace.anderson", title="Staff Engineer")
    svc.edit_user("ravi.nakamura", department="Legal")


async def test_filters_narrow_the_events_and_enter_shows_before_and_after(tui_home, with_service):
    with_service(tui_home, seed_changes)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        assert "first 500 events" in text_of(screen.query_one("#count", Label))
        screen.query_one("#action").value = "user_update"
        await settle(pilot)
        assert sorted(r[2] for r in rows_of(screen.query_one("#events", DataTable))) == ["grace.anderson",
                                                                                         "ravi.nakamura"]
        await pilot.press("f", *"grace.anderson", "enter")
        await settle(pilot)
        events = rows_of(screen.query_one("#events", DataTable))
        assert [(e[2], e[3], e[4]) for e in events] == [("grace.anderson", "user_update", "success")]
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, EventModal) and modal.event.changes["title"] == ["Staff Software Engineer", "Staff Engineer"]
        assert modal.query_one("#changes", Static)
        await pilot.press("escape")
        screen.query_one("#status").value = "failure"
        await settle(pilot)
        assert rows_of(screen.query_one("#events", DataTable)) == []
        assert text_of(screen.query_one("#count", Label)).startswith("0 event(s)")


async def test_custom_range_is_checked_and_a_bad_date_says_what_to_type(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#from", Input).disabled
        screen.query_one("#span").value = "custom"
        await settle(pilot)
        assert not screen.query_one("#from", Input).disabled and app.focused is screen.query_one("#from", Input)
        await pilot.press(*"last tuesday", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal) and "is not a time span or a date" in app.screen.title_text
        assert "2026-11-01" in app.screen.hint
        await pilot.press("enter")
        screen.query_one("#from", Input).value = "2000-01-01"
        screen.query_one("#to", Input).value = "2000-12-31"
        await pilot.press("r")
        await settle(pilot)
        assert rows_of(screen.query_one("#events", DataTable)) == []


async def test_export_writes_csv_and_json_of_the_filtered_report_and_never_overwrites(tui_home, with_service, tmp_path):
    with_service(tui_home, seed_changes)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        app.screen.query_one("#action").value = "user_update"
        await settle(pilot)
        target = tmp_path / "updates.csv"
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExportModal)
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert sorted(r["person"] for r in rows) == ["grace.anderson", "ravi.nakamura"]
        assert {r["action"] for r in rows} == {"user_update"}
        # the same file again: refused, untouched
        await pilot.press("x")
        await settle(pilot)
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal) and "exists already" in app.screen.title_text
        await pilot.press("enter")
        await pilot.press("x")
        await settle(pilot)
        app.screen.query_one("#fmt").value = "json"
        app.screen.query_one("#path", Input).value = str(tmp_path / "updates.json")
        await pilot.press("enter")
        await settle(pilot)
        records = orjson.loads((tmp_path / "updates.json").read_bytes())
        assert sorted(r["person"] for r in records) == ["grace.anderson", "ravi.nakamura"]
        assert len(list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))) == 2


async def test_dashboard_counts_apps_and_the_running_sync_sign(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        counts = text_of(app.screen.query_one("#counts", Static))
        assert "300 people" in counts and "292 active" in counts and "8 leavers" in counts and "18 groups" in counts
        assert rows_of(app.screen.query_one("#apps", DataTable))[0][:3] == ["bitbucket-cloud", "atlassian", "never"]
        navbar = app.screen.query_one("#navbar", Static)
        assert "SYNC" not in text_of(navbar)
        app.sync_running = True
        await settle(pilot)
        assert "A SYNC IS RUNNING" in text_of(navbar) and navbar.size.height == 2
        app.sync_running = False
        await settle(pilot)
        assert "SYNC" not in text_of(navbar) and navbar.size.height == 1

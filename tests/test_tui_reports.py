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
        assert text_of(screen.query_one("#count", Label)).startswith("0 events")


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


def seed_departure(svc) -> None:  # type: ignore[no-untyped-def]
    seed_changes(svc)
    svc.delete_user("ravi.nakamura", confirm=True)


async def test_the_person_filter_finds_part_of_a_name_deleted_people_included(tui_home, with_service):
    with_service(tui_home, seed_departure)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        await pilot.press("f", *"Ravi Nakam", "enter")  # letters that are commands elsewhere (r, x, f) are text here
        await settle(pilot)
        assert app.screen is screen and screen.query_one("#person", Input).value == "Ravi Nakam"
        rows = rows_of(screen.query_one("#events", DataTable))
        assert [r[3] for r in rows][:2] == ["user_delete", "user_update"] and {r[2] for r in rows} == {"ravi.nakamura"}
        await pilot.press("f")
        screen.query_one("#person", Input).value = ""
        await pilot.press(*"E10008", "enter")  # the primary key
        await settle(pilot)
        rows = rows_of(screen.query_one("#events", DataTable))
        assert rows and {r[2] for r in rows} == {"grace.anderson"}
        await pilot.press("f")
        screen.query_one("#person", Input).value = ""
        await pilot.press(*"nakamura@north", "enter")  # part of an e-mail: everyone whose address holds it
        await settle(pilot)
        assert "ravi.nakamura" in {r[2] for r in rows_of(screen.query_one("#events", DataTable))}


async def test_enter_on_a_dashboard_event_opens_that_event_in_the_report(tui_home, with_service):
    with_service(tui_home, seed_changes)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        events = dashboard.query_one("#events", DataTable)
        dashboard.set_focus(events)
        await pilot.press("down", "enter")
        await settle(pilot)
        modal = app.screen
        wanted = dashboard.snapshot.events[1]
        assert isinstance(modal, EventModal) and modal.event == wanted and wanted.person == "grace.anderson"
        await pilot.press("escape")
        await settle(pilot)
        reports = app.screen
        table = reports.query_one("#events", DataTable)
        assert reports.events[table.cursor_row] == wanted and app.focused is table


async def test_relative_times_stay_current(tui_home, with_service):
    from datetime import timedelta

    from console import clock
    from tests.plugins.tui import T0, ticking_from

    with_service(tui_home, seed_changes)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        events = dashboard.query_one("#events", DataTable)
        assert rows_of(events)[0][0] == "just now"
        events.move_cursor(row=1)
        clock.set_source(ticking_from(T0 + timedelta(hours=3, minutes=1)))
        dashboard.retime()  # what the screen's timer calls every RETIME seconds
        await pilot.pause()
        assert rows_of(events)[0][0] == "3h ago" and events.cursor_row == 1

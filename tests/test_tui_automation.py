"""What issue 13 adds to the console outside the Groups screen: the automation line on the dashboard, and
provisioning one person from their page (a dry-run trace first, applied only by a named button)."""
from __future__ import annotations

from datetime import timedelta

from textual.widgets import Static

from console import clock
from console.automation.schedule import TimerReader
from console.service import Service
from console.store import Store
from screens.app import make_app
from screens.users import PersonScreen, TraceModal
from tests.plugins.tui import CONFIRM, T0, settle, text_of


async def test_the_dashboard_says_nothing_of_automation_never_set_up(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.screen.query_one("#automation", Static)
        assert not line.display and text_of(line) == ""


async def test_the_dashboard_shows_the_last_cycle_the_next_and_what_is_held(tui_home):
    with Store.open(tui_home) as store:  # a cycle recorded as `idconsole automate run` records it
        report = await Service(store, operator="tester").run_cycle()
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.screen.query_one("#automation", Static)
        text = text_of(line)
        assert line.display
        assert text.startswith("Automation: last cycle just now: ")
        assert report.outcome.upper() in text.upper() and "next " in text and "held" in text.casefold()


async def test_the_dashboard_refreshing_runs_no_systemctl_until_asked(tui_home):
    with Store.open(tui_home) as store:
        await Service(store, operator="tester").run_cycle()
    app = make_app(tui_home)
    asked: list[list[str]] = []
    app.service.timers = TimerReader(lambda argv: asked.append(argv) or "")
    with clock.fixed(T0 + timedelta(minutes=5)):  # no answer grows old while the test runs
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert len(asked) == 1 and "next " in text_of(app.screen.query_one("#automation", Static))
            for _ in range(5):  # what every change of the state does
                app.state_changed()
                await settle(pilot)
            assert len(asked) == 1
            await pilot.press("r")  # refresh on demand asks systemd again
            await settle(pilot)
            assert len(asked) == 2


async def test_provision_one_person_from_their_page_dry_run_then_a_named_button(tui_scim_home):
    app = make_app(tui_scim_home)
    app.service.create_policy("vpn-policy", "bitbucket-cloud", ["vpn-users"])
    user = app.service.members(app.service.group("vpn-users"))[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *user.userName, "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PersonScreen)
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, TraceModal) and not modal.applied
        steps = text_of(modal.query_one("#steps", Static))
        assert "bitbucket-cloud" in steps and "in scope: " in steps and "vpn-policy" in steps and "create" in steps
        assert app.service.links_of(user).get("bitbucket-cloud") is None  # a dry run wrote nothing
        await pilot.press("p", "y", "enter")  # letters never confirm; Enter on the focused Cancel closes
        await settle(pilot)
        assert isinstance(app.screen, PersonScreen)
        assert app.service.links_of(user).get("bitbucket-cloud") is None
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, TraceModal)
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=6)
        done = app.screen
        assert isinstance(done, TraceModal) and done.applied and done.trace.ok, done.trace.steps
        assert "result " in text_of(done.query_one("#steps", Static))
        assert app.service.links_of(user)["bitbucket-cloud"].state == "active"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PersonScreen) and not app.sync_running

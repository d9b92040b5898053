"""Read-only mode for auditors: no write action is offered or accepted; a locked home exits 2."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from console.errors import ReadOnly
from console.store import Store
from screens.app import IdConsoleApp, make_app, open_service, run_app
from screens.base import NAV, ConsoleScreen
from screens.commands import ConsoleCommands
from tests.plugins.tui import settle


def offered_actions(screen: ConsoleScreen) -> set[str]:
    return {active.binding.action for active in screen.active_bindings.values() if active.enabled}


async def test_readonly_offers_no_write_on_any_screen_and_the_service_refuses(tui_scim_home):
    with Store.open(tui_scim_home):  # an operator's console holds the home: the auditor still gets in
        app = make_app(tui_scim_home, readonly=True)
        async with app.run_test(size=(80, 24)) as pilot:
            for mode, key, _ in NAV:
                await pilot.press(key)
                await settle(pilot)
                screen = app.screen
                assert isinstance(screen, ConsoleScreen) and screen.MODE == mode
                assert not offered_actions(screen) & screen.WRITE_ACTIONS, mode
            await pilot.press("2")
            await settle(pilot)
            assert app.screen.query_one("#people", DataTable).row_count == 200  # reading works
            await pilot.press("n", "d")
            await settle(pilot)
            assert isinstance(app.screen, ConsoleScreen)  # no form, no confirmation opened
            with pytest.raises(ReadOnly):
                app.service.add_user(employeeId="E1", userName="x")
            texts = [text for text, _, _ in ConsoleCommands(app.screen)._commands()]
            assert "users: add" not in texts and "sync: apply the plan" not in texts
            assert "sync: plan bitbucket-cloud" in texts and "reports: export" in texts
            assert "READ-ONLY" in str(app.screen.query_one("#navbar").content)


async def test_write_actions_are_offered_when_not_readonly(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert {"add", "edit", "delete"} <= offered_actions(app.screen)


def test_a_home_open_in_another_console_opens_for_writing_and_a_damaged_one_is_a_clear_message(tui_home, capsys):
    with Store.open(tui_home):  # another console: it holds no lock while open
        store, code = open_service(tui_home, readonly=False)
        assert store is not None and code == 0 and not store.readonly
        store.close()
    (tui_home / "state.json").write_bytes(b"{damaged")
    assert run_app(tui_home, readonly=False) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and "what to do:" in err


def test_make_app_owns_and_closes_its_store(tui_home):
    app = make_app(tui_home)
    assert isinstance(app, IdConsoleApp) and app.owns_store

    async def quit_now(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("q")

    import asyncio

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await quit_now(pilot)

    asyncio.run(run())
    with Store.open(tui_home):  # the lock was released on exit
        pass

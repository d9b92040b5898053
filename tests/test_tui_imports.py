"""Imports from the console: a people file and a Bitbucket workspace (its sandbox), each previewed by a
dry run that names what would change; nothing is written until the operator confirms."""
from __future__ import annotations

from textual.widgets import Input

from screens.app import make_app
from screens.modals import ConfirmModal, PathModal
from tests.plugins.tui import CONFIRM, SAMPLE, settle


async def test_file_import_previews_rejected_rows_and_imports_only_after_yes(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "i")
        await settle(pilot)
        assert isinstance(app.screen, PathModal)
        app.screen.query_one(Input).value = str(SAMPLE / "bad_people.csv")
        await pilot.press("enter")
        await settle(pilot)
        preview = app.screen
        assert isinstance(preview, ConfirmModal) and "4 created" in preview.body and "7 row(s) rejected" in preview.body
        assert any(item.startswith("line 3: email") for item in preview.items)
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.service.store.users) == 300  # the dry run wrote nothing
        await pilot.press("i")
        await settle(pilot)
        app.screen.query_one(Input).value = str(SAMPLE / "bad_people.csv")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press(*CONFIRM)
        await settle(pilot)
        assert len(app.service.store.users) == 304


async def test_bitbucket_import_previews_joiners_then_adds_them(tui_home, bb_app, with_service):
    with_service(tui_home, lambda svc: svc.add_app("bitbucket", bb_app.name, dict(bb_app.settings),
                                                   dict(bb_app.secrets)))
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot, rounds=5)
        preview = app.screen
        assert isinstance(preview, ConfirmModal) and preview.title_text == "Import bb?"
        assert "6 joiners" in preview.body
        assert sum(1 for item in preview.items if item.startswith("create")) == 6
        assert len(app.service.store.users) == 300
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=5)
        imported = [u for u in app.service.store.users if u.source.startswith("bitbucket")]
        assert sorted(u.displayName for u in imported) == sorted(
            ["Alice Smith", "Bob van der Berg", "Zoë Ångström", "李小龙", "Carol Jones", "Dan Brown"])


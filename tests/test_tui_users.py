"""The People screen driven with Pilot at 80×24: filter, add with inline validation, edit, detail, delete."""
from __future__ import annotations

from textual.widgets import DataTable, Input, Label, Static

from console.service import Service
from console.store import Store
from screens.app import make_app
from screens.modals import ConfirmModal
from screens.users import PersonScreen, UserForm
from tests.plugins.tui import CONFIRM, rows_of, settle, text_of


async def open_users(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await settle(pilot)


async def test_filter_shows_a_window_of_matches_and_says_how_many(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        table = app.screen.query_one("#people", DataTable)
        assert table.row_count == 200
        assert "first 200 of 300 people" in text_of(app.screen.query_one("#count", Label))
        await pilot.press("slash", *"smith eng")
        await settle(pilot)
        names = [row[1] for row in rows_of(table)]
        assert names == ["john.smith"]  # the Engineering John Smith, not the other one
        assert text_of(app.screen.query_one("#count", Label)) == "1 of 300 people match"
        await pilot.press(*" nobody")
        await settle(pilot)
        assert table.row_count == 0
        assert "no one matches" in text_of(app.screen.query_one("#count", Label))


async def test_a_filter_matching_more_than_the_window_says_how_many_match(tui_home, with_service):
    """Not "first 200 of 300 people match" for a filter 223 people match: the count follows the rows."""
    def matching(svc: Service) -> int:
        return len(svc.users("er"))

    expected = with_service(tui_home, matching)
    assert 200 < expected < 300
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("slash", *"er")
        await settle(pilot)
        table = app.screen.query_one("#people", DataTable)
        assert table.row_count == 200
        count = app.screen.query_one("#count", Label)
        await pilot.wait_for_scheduled_animations()
        for _ in range(100):
            if f"of {expected} matches" in text_of(count):
                break
            await pilot.pause(0.05)
        assert text_of(count).startswith(f"first 200 of {expected} matches (300 people)"), text_of(count)
        await pilot.press("backspace", "r")  # "er" again: the count is for what the filter holds
        await settle(pilot)
        for _ in range(100):
            if f"of {expected} matches" in text_of(count):
                break
            await pilot.pause(0.05)
        assert text_of(count).startswith(f"first 200 of {expected} matches"), text_of(count)


async def test_add_person_shows_the_service_error_next_to_the_field_then_saves(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, UserForm)
        await pilot.press(*"E77001", "tab", *"ada.lovelace", "tab", *"Ada", "tab", *"Lovelace", "tab", "tab",
                          *"ada@@example", "enter")
        await settle(pilot)
        assert app.screen is form  # still open
        error = form.query_one("#error-email", Static)
        assert "is not a valid e-mail address" in text_of(error) and error.has_class("shown")
        assert app.focused is form.query_one("#f-email", Input)
        assert app.service.store.users.by_key("E77001") is None
        form.query_one("#f-email", Input).value = "ada.lovelace@northwind.example"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, UserForm)
        user = app.service.store.users.by_key("E77001")
        assert user is not None and user.displayName == "Ada Lovelace" and user.email == "ada.lovelace@northwind.example"


async def test_duplicate_user_name_is_refused_next_to_user_name(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("n", *"E77002", "tab", *"john.smith", "enter")
        await settle(pilot)
        assert "already used by john.smith" in text_of(app.screen.query_one("#error-userName", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert app.service.store.users.by_key("E77002") is None


async def test_unknown_manager_is_shown_next_to_manager(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("n", *"E77003", "tab", *"new.person")
        app.screen.query_one("#f-manager", Input).value = "nobody.here"
        await pilot.press("enter")
        await settle(pilot)
        assert "no person 'nobody.here'" in text_of(app.screen.query_one("#error-manager", Static))


async def test_edit_marks_a_leaver(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("slash", *"grace.anderson", "enter")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, UserForm) and form.query_one("#f-employeeId", Input).disabled
        form.query_one("#f-status").value = "leaver"
        form.query_one("#f-title", Input).value = "Former Engineer"
        await pilot.press("ctrl+s")
        await settle(pilot)
        user = app.service.user("grace.anderson")
        assert user.status == "leaver" and user.title == "Former Engineer"
        assert rows_of(app.screen.query_one("#people", DataTable))[0][4] == "LEAVER"


async def test_person_detail_lists_groups_and_every_application(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("slash", *"sean.obrien", "enter", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, PersonScreen)
        assert "Seán O'Brien" in text_of(detail.query_one("#summary", Static))
        assert "atlassian-users" in text_of(detail.query_one("#groups", Static))
        assert rows_of(detail.query_one("#accounts", DataTable)) == [["bitbucket-cloud", "-", "none", "-"]]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, PersonScreen)


async def test_delete_asks_first_escape_keeps_and_yes_deletes(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("slash", *"harper.baker", "enter", "d")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "harper.baker" in modal.title_text and "Harper Baker" in modal.body
        await pilot.press("escape")
        await settle(pilot)
        assert app.service.store.users.by_user_name("harper.baker") is not None
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("enter")  # the focused button is Cancel: Enter by habit keeps the person
        await settle(pilot)
        assert app.service.store.users.by_user_name("harper.baker") is not None
        await pilot.press("d", *CONFIRM)
        await settle(pilot)
        assert app.service.store.users.by_user_name("harper.baker") is None
        assert app.screen.query_one("#people", DataTable).row_count == 0
    with Store.open(tui_home, readonly=True) as store:  # durable: another process sees it gone
        assert Service(store).users("harper.baker") == []


async def test_deleting_from_a_persons_page_leaves_them_out_of_the_list(tui_home):
    """The person's page closes as the deletion starts: the deletion (and the list's reload after it) must not
    belong to the page that is gone — the list showed the deleted person until something else reloaded it."""
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_users(pilot)
        await pilot.press("slash", *"naomi.morales")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PersonScreen)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=6)
        screen = app.screen
        assert app.service.people_count()[0] == 299
        assert rows_of(screen.query_one("#people", DataTable)) == []
        assert text_of(screen.query_one("#count", Label)) == "no one matches 'naomi.morales'"

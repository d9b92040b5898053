"""Typing is always safe: text typed into any filter or form stays text, keys typed ahead of a screen or a
dialog never act on it, and no letter confirms a deletion.

`type_raw` posts keys as a terminal sends them, all at once; `pilot.press` waits for the app between keys,
which would hide every type-ahead problem.
"""
from __future__ import annotations

from textual import events
from textual.keys import _character_to_key
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Input, Select, SelectionList, TextArea

from screens.app import make_app
from screens.apps import AppForm, AppsScreen
from screens.base import LISTS
from screens.forms import FormModal
from screens.groups import GroupForm, GroupsScreen, PeoplePicker
from screens.modals import ConfirmModal
from screens.policies import PolicyForm
from screens.reports import ExportModal, ReportsScreen
from screens.users import PersonScreen, UserForm, UsersScreen
from tests.plugins.tui import CONFIRM, settle

# Letters that are commands somewhere (d delete, e edit, n new, y yes, q quit, 1–8 screens, p plan, a apply…)
TEXT = "Dylan dney.test-op q12345678 pa x/:?"


def key_of(char: str) -> events.Key:
    key = char if char.isalnum() else _character_to_key(char)
    return events.Key(key, char)


def type_raw(app, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Keys as a fast typist's terminal delivers them: queued at once, before the app reacts to the first."""
    for key in keys:
        app.post_message(key_of(key) if len(key) == 1 else events.Key(key, None))


async def goto_person(pilot):  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PersonScreen)


async def test_slash_dylan_on_a_persons_page_filters_and_deletes_no_one(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await goto_person(pilot)
        people = app.service.people_count()[0]
        type_raw(app, *"/dylan", "y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UsersScreen) and app.focused is screen.query_one("#filter", Input)
        assert screen.query_one("#filter", Input).value == "dylany"
        assert app.service.people_count()[0] == people


async def test_slash_test_op_on_a_persons_page_opens_no_form(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await goto_person(pilot)
        type_raw(app, *"/test.op")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen) and app.screen.query_one("#filter", Input).value == "test.op"


async def test_keys_typed_ahead_of_a_confirmation_are_dropped(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await goto_person(pilot)
        people = app.service.people_count()[0]
        type_raw(app, "d", "tab", "enter", "y")  # the dialog appears after these were typed
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.service.people_count()[0] == people


async def test_no_letter_confirms_a_deletion_only_the_named_button_does(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await goto_person(pilot)
        people = app.service.people_count()[0]
        await pilot.press("d")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and str(modal.query_one("#yes").label).startswith("Delete ")
        await pilot.press(*"yYjoa1 ", "space")
        await settle(pilot)
        assert app.screen is modal and app.service.people_count()[0] == people
        await pilot.press(*CONFIRM)
        await settle(pilot)
        assert app.service.people_count()[0] == people - 1


async def test_text_typed_right_after_e_goes_into_the_form(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, AppsScreen)
        type_raw(app, "e", *"/v2", "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AppForm)
        assert isinstance(app.focused, Input) and app.focused.value.endswith("/v2")  # no key lost, Enter dropped


async def test_digits_typed_outside_a_text_field_do_not_switch_screens(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        screen.set_focus(screen.query_one("#span", Select))
        await pilot.press(*"2026-11-01 q")
        await settle(pilot)
        assert app.screen is screen and app.is_running


async def type_everywhere(pilot, screen) -> None:  # type: ignore[no-untyped-def]
    """Type TEXT into every text field of `screen` and letters/digits on every other focusable widget;
    nothing but the field's text may change."""
    app = pilot.app
    people = app.service.people_count()[0]
    stack = list(app.screen_stack)
    widgets: list[Widget] = [w for w in screen.query("*") if w.focusable and not w.disabled]
    assert widgets
    for widget in widgets:
        screen.set_focus(widget)
        await pilot.pause()
        if isinstance(widget, Input) and widget.type == "text":
            widget.value = ""
            type_raw(app, *TEXT)
            await settle(pilot, rounds=1)
            assert widget.value == TEXT, widget
        elif isinstance(widget, TextArea):
            widget.text = ""
            type_raw(app, *TEXT)
            await settle(pilot, rounds=1)
            assert widget.text == TEXT
        elif isinstance(widget, LISTS) and not isinstance(app.screen, (FormModal, PeoplePicker)):
            continue  # on a main screen's list, letters are commands by design
        else:
            before = widget.value if isinstance(widget, (Checkbox, Select)) else None
            type_raw(app, *"dneyq12345678pa")
            if before is not None:
                assert widget.value == before, widget
        await settle(pilot, rounds=1)
        assert list(app.screen_stack) == stack, (widget, app.screen_stack)
        assert app.is_running
    assert app.service.people_count()[0] == people


async def test_typing_into_every_filter_changes_nothing_else(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, kind, field in (("2", UsersScreen, "#filter"), ("3", GroupsScreen, "#member-filter"),
                                 ("7", ReportsScreen, "#person")):
            await pilot.press(key)
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, kind)
            type_raw(app, "slash", *TEXT)
            await settle(pilot)
            assert app.screen is screen and screen.query_one(field, Input).value == TEXT
            screen.set_focus(screen.query(DataTable).first())


async def test_typing_into_every_form_changes_nothing_else(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        for mode, keys, kind in (("2", ("n",), UserForm), ("2", ("e",), UserForm), ("3", ("n",), GroupForm),
                                 ("3", ("a",), PeoplePicker), ("4", ("n",), PolicyForm), ("5", ("e",), AppForm),
                                 ("7", ("x",), ExportModal)):
            await pilot.press(mode)
            await settle(pilot)
            main = app.screen
            await pilot.press(*keys)
            await settle(pilot)
            assert isinstance(app.screen, kind), (keys, app.screen)
            await type_everywhere(pilot, app.screen)
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is main
            if not isinstance(main.focused, DataTable):
                main.set_focus(main.query(DataTable).first())


async def test_enter_on_a_tick_list_submits_the_form_and_f2_saves_from_anywhere(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4", "n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, PolicyForm)
        await pilot.press(*"it-cloud")
        form.query_one("#f-app", Select).value = "bitbucket-cloud"
        ticks = form.query_one("#f-groups", SelectionList)
        form.set_focus(ticks)
        await pilot.press("space", "enter")  # Space ticks the first group, Enter creates (does not un-tick)
        await settle(pilot)
        assert not isinstance(app.screen, PolicyForm)
        policy = app.service.policy("it-cloud")
        assert len(policy.groups) == 1
        await pilot.press("5", "e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AppForm)
        box = form.query_one("#f-features-delete", Checkbox)
        form.set_focus(box)
        await pilot.press("space", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, AppForm) and app.service.app("bitbucket-cloud").feature("delete")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        form.set_focus(form.query_one("#f-deprovision", Select))
        await pilot.press("f2")
        await settle(pilot)
        assert not isinstance(app.screen, AppForm)

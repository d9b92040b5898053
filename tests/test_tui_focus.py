"""The keyboard model, finished: on every screen and dialog Tab walks the focusable widgets in reading order
(top to bottom, then left to right, by where each one is on the screen at 80×24) and Shift+Tab walks the
same chain back; Enter has one meaning (activate the focused control, or submit a form from any single-line
field — never toggle a tick box, un-tick a group or add a line in a one-line answer)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.containers import ScrollableContainer
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Input, Select, SelectionList, TextArea

from screens.app import make_app
from screens.apps import AppForm, AppsScreen, KindPicker
from screens.dashboard import DashboardScreen
from screens.deletions import DeletionsScreen
from screens.forms import FormModal
from screens.groups import GroupForm, GroupsScreen, PeoplePicker
from screens.inbound import EndpointForm, InboundScreen, MappingForm
from screens.modals import ConfirmModal, HelpModal, PasswordsModal, PathModal, TypeCountModal
from screens.policies import PoliciesScreen, PolicyForm
from screens.provisioning import ProvisioningScreen
from screens.reports import EventModal, ExportModal, ReportsScreen
from screens.users import PersonScreen, TraceModal, UserForm, UsersScreen
from tests.plugins.tui import SAMPLE, settle
from tests.test_tui_typing import type_raw

Steps = Callable[[Any], Awaitable[None]]


def keys(*pressed: str) -> Steps:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run


def then(first: Steps, second: Steps) -> Steps:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await first(pilot)
        await second(pilot)

    return run


async def custom_span(pilot) -> None:  # type: ignore[no-untyped-def]
    """Reports with a from/to range: the two date fields are enabled and part of the chain."""
    await keys("7")(pilot)
    pilot.app.screen.query_one("#span", Select).value = "custom"
    await settle(pilot)


async def passwords(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.push_screen(PasswordsModal({"corp-ad: Zed New (zed.new@northwind.example)": "S3cret-Init!"}))
    await settle(pilot)


async def inbound(pilot) -> None:  # type: ignore[no-untyped-def]
    await keys("5")(pilot)
    table = pilot.app.screen.query_one("#apps", DataTable)
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    table.move_cursor(row=next(i for i, name in enumerate(names) if name.startswith("bb")))
    await keys("b")(pilot)


async def a_plan(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.service.create_policy("legal-bitbucket", "bitbucket-cloud", ["dept-legal"])
    pilot.app.state_changed()
    await keys("6", "p")(pilot)


async def import_preview(pilot) -> None:  # type: ignore[no-untyped-def]
    await keys("2", "i")(pilot)
    pilot.app.screen.query_one(Input).value = str(SAMPLE / "bad_people.csv")
    await keys("enter")(pilot)


async def provision_dry_run(pilot) -> None:  # type: ignore[no-untyped-def]
    """A person's "provision now" dry run: the trace with its named button."""
    svc = pilot.app.service
    svc.create_policy("legal-bitbucket", "bitbucket-cloud", ["dept-legal"])
    person = svc.members(svc.group("dept-legal"))[0]
    pilot.app.state_changed()
    await keys("2", "slash")(pilot)
    await pilot.press(*person.userName)
    await settle(pilot)
    await keys("enter", "enter", "p")(pilot)
    await settle(pilot, rounds=5)


async def apply_confirmation(pilot) -> None:  # type: ignore[no-untyped-def]
    await a_plan(pilot)
    await keys("a")(pilot)


async def type_count(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.push_screen(TypeCountModal(12, "bitbucket-cloud: 12 deprovisions, threshold 10"))
    await settle(pilot)


# name -> (how to get there from the dashboard, the home it needs)
VIEWS: dict[str, tuple[Steps, str]] = {
    "dashboard": (keys(), "tui_scim_home"),
    "users": (keys("2"), "tui_home"),
    "person": (keys("2", "enter"), "tui_home"),
    "user_form_add": (keys("2", "n"), "tui_home"),
    "user_form_edit": (keys("2", "e"), "tui_home"),
    "confirm_delete_person": (keys("2", "enter", "d"), "tui_home"),
    "groups": (keys("3"), "tui_home"),
    "group_form": (keys("3", "n"), "tui_home"),
    "people_picker": (keys("3", "a"), "tui_home"),
    "policies": (keys("4"), "tui_scim_home"),
    "policy_form": (keys("4", "n"), "tui_scim_home"),
    "apps": (keys("5"), "tui_scim_home"),
    "app_form": (keys("5", "e"), "tui_scim_home"),
    "inbound": (inbound, "inbound_home"),
    "endpoint_form": (then(inbound, keys("e")), "inbound_home"),
    "mapping_form": (then(inbound, keys("m")), "inbound_home"),
    "sync_plan": (a_plan, "tui_scim_home"),
    "deletions": (keys("8"), "tui_scim_home"),
    "reports": (keys("7"), "tui_home"),
    "reports_custom_span": (custom_span, "tui_home"),
    "export": (keys("7", "x"), "tui_home"),
    "import_path": (keys("2", "i"), "tui_home"),
    "import_preview": (import_preview, "tui_home"),
    "passwords": (passwords, "tui_home"),
    "provision_dry_run": (provision_dry_run, "tui_scim_home"),
    "apply_confirmation": (apply_confirmation, "tui_scim_home"),
    "type_count": (type_count, "tui_home"),
    "kind_picker": (keys("5", "n"), "tui_home"),
    "event_detail": (keys("7", "enter"), "tui_home"),
    "help": (keys("7", "question_mark"), "tui_home"),
}
# what each view must be (a wrong key on the way would test another screen)
KINDS = {"dashboard": DashboardScreen, "users": UsersScreen, "person": PersonScreen, "user_form_add": UserForm,
         "user_form_edit": UserForm, "confirm_delete_person": ConfirmModal, "groups": GroupsScreen,
         "group_form": GroupForm, "people_picker": PeoplePicker, "policies": PoliciesScreen, "policy_form": PolicyForm,
         "apps": AppsScreen, "app_form": AppForm, "inbound": InboundScreen, "endpoint_form": EndpointForm,
         "mapping_form": MappingForm, "sync_plan": ProvisioningScreen, "deletions": DeletionsScreen,
         "reports": ReportsScreen, "reports_custom_span": ReportsScreen, "export": ExportModal,
         "import_path": PathModal, "import_preview": ConfirmModal, "passwords": PasswordsModal,
         "provision_dry_run": TraceModal, "apply_confirmation": ConfirmModal, "type_count": TypeCountModal,
         "kind_picker": KindPicker, "event_detail": EventModal, "help": HelpModal}


@pytest.fixture
def inbound_home(tui_scim_home, bb_app, with_service):  # type: ignore[no-untyped-def]
    with_service(tui_scim_home, lambda svc: svc.add_app("bitbucket", bb_app.name, dict(bb_app.settings),
                                                        dict(bb_app.secrets)))
    return tui_scim_home


def place(widget: Widget) -> tuple[int, ...]:
    """Where the widget is read: (row, column) on the screen; inside a scrolling box (a long form's fields), the
    box's place and then the widget's (row, column) within the box's whole content — so the place does not change
    as focus scrolls the box, and what is in the box is read where the box is."""
    for ancestor in widget.ancestors:
        if isinstance(ancestor, ScrollableContainer):
            inner = ancestor.content_region
            return (*place(ancestor), widget.region.y - inner.y + round(ancestor.scroll_offset.y),
                    widget.region.x - inner.x + round(ancestor.scroll_offset.x))
    return widget.region.y, widget.region.x


def reading_order(widgets: list[Widget]) -> list[Widget]:
    """Top to bottom, then left to right, by the widget's place on the screen."""
    return sorted(widgets, key=place)


def describe(widgets: list[Widget | None], places: dict[int, tuple[int, ...]]) -> list[str]:
    return [f"{type(w).__name__}#{w.id}@{places.get(id(w))}" if w is not None else "None" for w in widgets]


@pytest.mark.parametrize("view", sorted(VIEWS))
async def test_tab_walks_reading_order_and_shift_tab_walks_it_back(request, view):
    steps, home = VIEWS[view]
    app = make_app(request.getfixturevalue(home))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await steps(pilot)
        screen = app.screen
        assert isinstance(screen, KINDS[view]), (view, screen)
        chain = list(screen.focus_chain)
        assert chain, f"{view}: nothing can take focus"
        places: dict[int, tuple[int, ...]] = {id(w): place(w) for w in chain}
        expected = reading_order(chain)
        screen.set_focus(expected[0])
        await pilot.pause()
        forward: list[Widget | None] = [app.focused]
        for _ in chain:
            await pilot.press("tab")
            await pilot.pause()
            forward.append(app.focused)
        assert app.screen is screen, f"{view}: Tab left the screen"
        assert describe(forward, places) == describe([*expected, expected[0]], places), view
        backward: list[Widget | None] = [app.focused]
        for _ in chain:
            await pilot.press("shift+tab")
            await pilot.pause()
            backward.append(app.focused)
        assert describe(backward, places) == describe([expected[0], *reversed(expected)], places), view


# ---- one meaning for Enter ----------------------------------------------------------------------------------
FORMS: dict[str, tuple[Steps, str, type[FormModal]]] = {
    "user_form": (keys("2", "e"), "tui_home", UserForm),
    "group_form": (keys("3", "n"), "tui_home", GroupForm),
    "policy_form": (keys("4", "n"), "tui_scim_home", PolicyForm),
    "app_form": (keys("5", "e"), "tui_scim_home", AppForm),
    "endpoint_form": (then(inbound, keys("e")), "inbound_home", EndpointForm),
    "mapping_form": (then(inbound, keys("m")), "inbound_home", MappingForm),
}


def snapshot(form: FormModal) -> dict[str, Any]:
    """Every field's value (Select, Input, Checkbox, tick list, text area)."""
    values: dict[str, Any] = {}
    for widget in form.query("#fields *"):
        if isinstance(widget, (Input, Select, Checkbox)):
            values[widget.id or ""] = widget.value
        elif isinstance(widget, SelectionList):
            values[widget.id or ""] = sorted(map(str, widget.selected))
        elif isinstance(widget, TextArea):
            values[widget.id or ""] = widget.text
    return values


@pytest.mark.parametrize("name", sorted(FORMS))
async def test_enter_submits_from_every_single_line_field_and_changes_no_value(request, name):
    """Enter in each single-line field, on each tick box and tick list submits the form (the form's own submit
    runs, counted here) and changes no field; in a multi-line box whose purpose is lines, Enter adds a line."""
    steps, home, kind = FORMS[name]
    app = make_app(request.getfixturevalue(home))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await steps(pilot)
        form = app.screen
        assert isinstance(form, kind)
        submitted: list[str] = []
        form.submit = lambda: submitted.append(str(form.focused.id))  # type: ignore[method-assign,union-attr]
        fields = [w for w in form.query("#fields *") if w.focusable and not w.disabled
                  and isinstance(w, (Input, Checkbox, SelectionList, TextArea))]
        assert fields
        for widget in fields:
            before = snapshot(form)
            form.set_focus(widget)
            await pilot.pause()
            await pilot.press("enter")
            await settle(pilot, rounds=1)
            assert app.screen is form, (name, widget.id)
            if isinstance(widget, TextArea):  # its purpose is lines: Enter adds one, the form stays open
                assert submitted[-1:] != [widget.id], f"{name}: Enter in the text area {widget.id} submitted"
                after = snapshot(form)
                assert after.pop(widget.id or "").count("\n") == before.pop(widget.id or "").count("\n") + 1
                assert after == before, (name, widget.id)
                continue
            assert submitted[-1:] == [widget.id], f"{name}: Enter on {type(widget).__name__}#{widget.id} did not submit"
            assert snapshot(form) == before, f"{name}: Enter on {widget.id} changed a value"
        form.set_focus(form.query_one("#save"))
        await pilot.press("enter")  # on a button Enter presses it
        await settle(pilot, rounds=1)
        assert submitted[-1:] == ["save"]
        form.set_focus(form.query_one("#cancel"))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is not form


async def test_down_from_the_member_filter_reaches_the_members(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("3")(pilot)
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        await pilot.press("slash", *"a")
        await settle(pilot)
        members = screen.query_one("#members", DataTable)
        assert app.focused is screen.query_one("#member-filter", Input) and members.row_count
        await pilot.press("down")
        assert app.focused is members
        await pilot.press("down")  # and ↓ then moves in the list
        assert members.cursor_row == 1
        await pilot.press("slash", "enter")
        assert app.focused is members  # Enter in the filter also goes to the list


async def test_text_typed_fast_after_tab_lands_in_the_next_field(tui_home):
    """A typist's "abc<Tab>def" arrives in one burst: Tab must move the focus before "def" is typed (Textual
    bubbles a key to a non-priority binding, so the letters after it overtook it and landed in the first field)."""
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("2", "n")(pilot)
        form = app.screen
        assert isinstance(form, UserForm)
        type_raw(app, *"E123", "tab", *"ada.fast", "tab", *"Ada", "shift+tab", "shift+tab", *"E9")
        await settle(pilot)  # (a field reached by Tab has its text selected: typing replaces it)
        assert [form.query_one(f"#f-{name}", Input).value for name in ("employeeId", "userName", "givenName")] == [
            "E9", "ada.fast", "Ada"]


async def test_text_typed_fast_after_shift_tab_from_a_list_lands_in_the_field(tui_home):
    """The same burst from a list, with the field's own editing keys: Shift+Tab from the report's results, Ctrl+U
    and a date go wholly into the "to" date, then into the "from" date (Shift+Tab bubbled to the screen's binding
    behind the keys after it, so "2026-" went to the table; Ctrl+U cleared the date typed after it)."""
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await custom_span(pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        await pilot.press(*"2026-11-01", "tab", *"2026-11-30", "enter")
        await settle(pilot)
        assert app.focused is screen.query_one("#events", DataTable)
        type_raw(app, "shift+tab", "ctrl+u", *"2026-11-02", "shift+tab", "ctrl+u", *"2026-11-03")
        await settle(pilot)
        assert [screen.query_one(f"#{name}", Input).value for name in ("from", "to")] == ["2026-11-03", "2026-11-02"]


async def test_a_fields_editing_keys_typed_fast_act_in_order(tui_home):
    """Backspace, ←, Home and Ctrl+K typed in one burst with letters edit the text in the order typed."""
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("2", "n")(pilot)
        form = app.screen
        assert isinstance(form, UserForm)
        field = form.query_one("#f-employeeId", Input)
        type_raw(app, *"abc", "backspace", *"d", "left", *"X", "home", *"^", "end", *"$")
        await settle(pilot)
        assert field.value == "^abXd$"
        type_raw(app, "home", "right", "ctrl+k", *"Z")
        await settle(pilot)
        assert field.value == "^Z"


async def test_down_then_enter_typed_fast_in_the_people_filter_opens_the_person(tui_home):
    """"smith ↓ ⏎" in one burst: ↓ moves from the filter to the list as it arrives (a `focus_…` binding), so the
    Enter after it opens the first match (it reached the filter, which kept the focus, and opened no one)."""
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await keys("2")(pilot)
        type_raw(app, "slash", *"john.smith2", "down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PersonScreen), type(app.screen).__name__
        assert app.screen.service.user_by_id(app.screen.user_id).userName == "john.smith2"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        type_raw(app, "slash", "ctrl+u", *"naomi", "down", "d")  # a delete typed fast asks about the one typed
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert str(app.screen.query_one("#body").render()).startswith("Naomi Morales (")

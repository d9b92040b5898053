"""The Groups screen: create, rename (errors next to the name), members added from the searchable picker
and removed after a confirmation, deletion with a confirmation, refused while a policy uses the group."""
from __future__ import annotations

from textual.widgets import DataTable, Input, Label, Static

from screens.app import make_app
from screens.groups import GroupForm, PeoplePicker
from screens.modals import ConfirmModal, NoticeModal
from tests.plugins.tui import CONFIRM, rows_of, screen_text, settle, text_of


async def open_group(pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    await settle(pilot)
    table = pilot.app.screen.query_one("#groups", DataTable)
    table.move_cursor(row=[r[0] for r in rows_of(table)].index(name))
    await settle(pilot)


async def test_create_and_rename_with_the_error_next_to_the_name(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "n")
        await settle(pilot)
        assert isinstance(app.screen, GroupForm)
        await pilot.press(*"contractors", "tab", *"External staff", "enter")
        await settle(pilot)
        group = app.service.group("contractors")
        assert group.description == "External staff" and group.members == []
        assert "contractors" in [r[0] for r in rows_of(app.screen.query_one("#groups", DataTable))]
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#f-name", Input).value = "vpn-users"
        await pilot.press("enter")
        await settle(pilot)
        assert "already the name of another group" in text_of(app.screen.query_one("#error-name", Static))
        app.screen.query_one("#f-name", Input).value = "contractors-2027"
        await pilot.press("enter")
        await settle(pilot)
        renamed = app.service.group("contractors-2027")
        assert renamed.description == "External staff" and renamed.id == group.id
        assert "contractors-2027" in [r[0] for r in rows_of(app.screen.query_one("#groups", DataTable))]
        assert app.service.group("vpn-users").members  # the refused name did not touch the real vpn-users


def test_a_renamed_group_is_not_found_by_its_old_name(tui_home, with_service):
    def rename(svc):  # type: ignore[no-untyped-def]
        svc.create_group("contractors")
        svc.rename_group("contractors", "contractors-2027")
        return svc.store.groups.by_name("contractors")

    assert with_service(tui_home, rename) is None


async def test_members_are_added_from_the_picker_and_removed_after_a_confirmation(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_group(pilot, "finance-approvers")
        before = len(app.service.group("finance-approvers").members)
        await pilot.press("a")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PeoplePicker)
        await pilot.press(*"smith", "enter")
        await settle(pilot)
        await pilot.press("space", "down", "space")
        assert "2 ticked" in text_of(picker.query_one("#found", Label))
        await pilot.press("tab", "tab", "enter")  # to the Add button: the plain-key way
        await settle(pilot)
        group = app.service.group("finance-approvers")
        added = [u.userName for u in app.service.members(group)][before:]
        assert len(added) == 2 and all("smith" in name for name in added)
        assert f"Members ({before + 2})" == text_of(app.screen.query_one("#members-title", Label))
        # remove one: select it in the members pane, x, confirm
        members = app.screen.query_one("#members", DataTable)
        members.move_cursor(row=before)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and added[0] in app.screen.title_text
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.service.group("finance-approvers").members) == before + 2
        await pilot.press("x", *CONFIRM)
        await settle(pilot)
        assert [u.userName for u in app.service.members(app.service.group("finance-approvers"))][before:] == added[1:]


async def test_picker_escape_adds_nobody(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_group(pilot, "project-aurora")
        await pilot.press("a", *"ann", "enter", "space", "escape")
        await settle(pilot)
        assert app.service.group("project-aurora").members == []


async def test_delete_asks_and_a_group_used_by_a_policy_is_not_offered_for_deletion(tui_scim_home):
    app = make_app(tui_scim_home)
    app.service.create_policy("vpn-policy", "bitbucket-cloud", ["vpn-users"])
    async with app.run_test(size=(80, 24)) as pilot:
        await open_group(pilot, "vpn-users")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, NoticeModal) and "vpn-policy" in app.screen.body
        await pilot.press("enter")
        await open_group(pilot, "dept-legal")
        await pilot.press("d")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and "dept-legal" in modal.title_text and "9 members" in modal.body
        await pilot.press("n")
        await settle(pilot)
        assert app.service.store.groups.by_name("dept-legal") is not None
        await pilot.press("d", *CONFIRM)
        await settle(pilot)
        assert app.service.store.groups.by_name("dept-legal") is None
        assert app.service.store.groups.by_name("vpn-users") is not None


async def test_a_rule_group_is_created_with_a_live_preview_and_a_mistake_shown_with_its_position(tui_home):
    app = make_app(tui_home)
    engineers = app.service.preview_rule('department == "Engineering"').count
    assert engineers > 0
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GroupForm)
        await pilot.press(*"engineers", "tab", *"Everyone in Engineering", "tab", *'department == "Engineering" and')
        await settle(pilot)
        error = text_of(form.query_one("#error-rule", Static))
        assert "position" in error and "rule:" in error
        assert text_of(form.query_one("#rule-preview", Static)) == ""
        await pilot.press("backspace", "backspace", "backspace", "backspace")  # drop " and"
        await settle(pilot)
        assert text_of(form.query_one("#error-rule", Static)) == ""
        preview = text_of(form.query_one("#rule-preview", Static))
        assert preview.startswith(f"{engineers} people match: ")
        await pilot.press("enter")
        await settle(pilot)
        group = app.service.group("engineers")
        assert group.rule == 'department == "Engineering"' and len(group.members) == engineers
        # its page shows the rule; manual add/remove is not offered (the rule decides)
        table = app.screen.query_one("#groups", DataTable)
        table.move_cursor(row=[r[0] for r in rows_of(table)].index("engineers"))
        await settle(pilot)
        assert 'rule: department == "Engineering"' in text_of(app.screen.query_one("#info", Static))
        await pilot.press("a", "x")
        await settle(pilot)
        assert not isinstance(app.screen, (PeoplePicker, ConfirmModal))
        assert len(app.service.group("engineers").members) == engineers
        # reached anyway (e.g. a stale binding): the core's refusal is said, nothing changes
        app.screen.change("engineers", ["ann.lee"], True)
        await settle(pilot)
        assert isinstance(app.screen, NoticeModal) and "rule group" in app.screen.title_text


async def test_a_broken_rule_is_refused_on_save_under_the_field(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "n")
        await settle(pilot)
        await pilot.press(*"broken", "tab", "tab", *'title startswith ')
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GroupForm)
        assert "position" in text_of(form.query_one("#error-rule", Static))
        assert app.service.store.groups.by_name("broken") is None


async def test_a_groups_rule_is_changed_then_cleared_in_its_form_with_what_happens_shown_first(tui_home, with_service):
    with_service(tui_home, lambda svc: svc.create_group("engineers", rule='department == "Engineering"'))
    app = make_app(tui_home)
    engineers = len(app.service.group("engineers").members)
    active = app.service.preview_rule('department == "Engineering" and status == "active"').count
    async with app.run_test(size=(80, 24)) as pilot:
        await open_group(pilot, "engineers")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GroupForm)
        rule = form.query_one("#f-rule", Input)
        assert rule.value == 'department == "Engineering"'
        assert text_of(form.query_one("#rule-preview", Static)).startswith(f"The rule in force. {engineers} people")
        form.set_focus(rule)
        rule.value = 'department == "Engineering" and status == "active"'
        await settle(pilot)
        assert text_of(form.query_one("#rule-preview", Static)).startswith(
            f"0 people join, {engineers - active} people leave. {active} people match")
        await pilot.press("f2")
        await settle(pilot)
        group = app.service.group("engineers")
        assert group.rule == 'department == "Engineering" and status == "active"' and len(group.members) == active
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        form.query_one("#f-rule", Input).value = ""
        await settle(pilot)
        shown = text_of(form.query_one("#rule-preview", Static))
        assert shown == (f"Clearing the rule makes engineers a plain group: its {active} people stay, as members added "
                         "by hand (nobody joins or leaves by the rule any more).")
        assert "plain group" in screen_text(app)  # on screen, not cut
        assert app.service.group("engineers").rule  # nothing saved yet
        await pilot.press("f2")
        await settle(pilot)
        group = app.service.group("engineers")
        assert group.rule == "" and len(group.members) == active
        assert "rule: none" in text_of(app.screen.query_one("#info", Static))
        assert app.screen.check_action("add_members", ()) is not False  # a plain group: members by hand again


async def test_the_group_page_shows_its_policies_when_the_description_wraps(tui_scim_home, with_service):
    def seed(svc):  # type: ignore[no-untyped-def]
        svc.create_group("contractors", "External staff on fixed-term contracts, managed by the vendor office, "
                         "renewed every quarter by the head of procurement after review")
        svc.create_policy("contractors-policy", "bitbucket-cloud", ["contractors"])

    with_service(tui_scim_home, seed)
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_group(pilot, "contractors")
        shown = screen_text(app)
        assert "policies: contractors-policy" in shown and "rule: none" in shown

"""Provisioning through the console against a real SCIM directory (scim2-server): the operator's whole
path — add a person, put them in a group, bind the group by a policy, plan, apply, read the report — and
the guards on deprovisioning (confirmation, typed count above the threshold, the deletion queue, cancel)."""
from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import DataTable, Input, Label, SelectionList, Tree

from console.models import Run
from console.reports import ReportFilter
from screens.app import make_app
from screens.deletions import DeletionsScreen
from screens.modals import ConfirmModal, PasswordsModal, TypeCountModal
from screens.policies import PolicyForm
from screens.provisioning import ProvisioningScreen
from tests.plugins.tui import CONFIRM, rows_of, settle, text_of

APP = "bitbucket-cloud"


async def create_policy(pilot, name: str, group: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("4", "n")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, PolicyForm)
    await pilot.press(*name)
    form.query_one("#f-app").value = APP
    form.query_one("#f-groups", SelectionList).select(group)
    await pilot.press("ctrl+s")
    await settle(pilot)
    assert not isinstance(pilot.app.screen, PolicyForm), "the policy form stayed open"


async def plan(pilot) -> ProvisioningScreen:  # type: ignore[no-untyped-def]
    await pilot.press("6", "p")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ProvisioningScreen) and screen.plan is not None
    return screen


async def test_add_person_group_policy_plan_apply_and_the_report_shows_the_account(tui_scim_home, scim_directory):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        # a new person
        await pilot.press("2", "n")
        await settle(pilot)
        form = app.screen
        for field, value in (("employeeId", "E90001"), ("userName", "zed.new"), ("givenName", "Zed"),
                             ("familyName", "New"), ("email", "zed.new@northwind.example")):
            form.query_one(f"#f-{field}", Input).value = value
        await pilot.press("enter")
        await settle(pilot)
        # into project-aurora (an empty group) through the people picker
        await pilot.press("3")
        await settle(pilot)
        groups = app.screen.query_one("#groups", DataTable)
        groups.move_cursor(row=[r[0] for r in rows_of(groups)].index("project-aurora"))
        await pilot.press("a")
        await settle(pilot)
        await pilot.press(*"zed", "enter", "space", "ctrl+s")
        await settle(pilot)
        assert [u.userName for u in app.service.members(app.service.group("project-aurora"))] == ["zed.new"]
        assert rows_of(app.screen.query_one("#members", DataTable)) == [["zed.new", "Zed New"]]
        # a policy binding the group to the SCIM directory; its preview names the person
        await create_policy(pilot, "aurora-bitbucket", "project-aurora")
        assert rows_of(app.screen.query_one("#scope", DataTable)) == [["zed.new", "Zed New", ""]]
        # plan: one group, one account, one membership
        screen = await plan(pilot)
        assert [(op.action, op.person or op.group) for op in screen.plan.operations] == [
            ("group_create", "project-aurora"), ("create", "zed.new"), ("member_add", "project-aurora")]
        tree = screen.query_one("#plan", Tree)
        assert "1 group_create, 1 create, 1 member_add" in str(tree.root.children[0].label)
        # apply after the confirmation
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and "Apply 3 operation(s)?" in app.screen.title_text
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=5)
        assert not app.sync_running
        assert "3 success" in text_of(screen.query_one("#progress-text", Label))
        assert [u["userName"] for u in scim_directory.users()] == ["zed.new@northwind.example"]
        assert screen.plan is not None and screen.plan.operations == []  # re-planned: nothing left
        # the report shows the account's creation for that person
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("f", *"zed.new", "enter")
        await settle(pilot)
        events = rows_of(app.screen.query_one("#events", DataTable))
        assert [(e[1], e[3], e[4]) for e in events if e[1] == APP] == [(APP, "create", "success")]


async def test_deprovisions_below_the_threshold_need_a_confirmation_and_escape_applies_nothing(tui_scim_home,
                                                                                               scim_directory):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await create_policy(pilot, "legal-bitbucket", "dept-legal")
        screen = await plan(pilot)
        await pilot.press("a", *CONFIRM)
        await settle(pilot, rounds=5)
        assert len(scim_directory.users()) == 9  # 1 of 9 is below 20 %
        leaver = app.service.in_scope(app.service.policy("legal-bitbucket"))[0]
        app.service.edit_user(leaver.userName, status="leaver")
        app.state_changed()
        await pilot.press("p")
        await settle(pilot)
        assert [op.action for op in screen.plan.operations] == ["deactivate"]
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and "Deprovision 1 account(s) in bitbucket-cloud?" in modal.title_text
        assert any(leaver.userName in item for item in modal.items)
        await pilot.press("escape")
        await settle(pilot)
        assert all(u["active"] for u in scim_directory.users())
        await pilot.press("a", *CONFIRM)
        await settle(pilot, rounds=5)
        inactive = [u["userName"] for u in scim_directory.users() if not u["active"]]
        assert inactive == [leaver.email]


async def test_above_the_threshold_only_the_exact_typed_number_applies(tui_scim_home, scim_directory):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await create_policy(pilot, "legal-bitbucket", "dept-legal")
        screen = await plan(pilot)
        await pilot.press("a", *CONFIRM)
        await settle(pilot, rounds=5)
        created = len(scim_directory.users())
        assert created == len(app.service.in_scope(app.service.policy("legal-bitbucket")))
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space", *CONFIRM)  # disable the policy (asks first)
        await settle(pilot)
        assert not app.service.policy("legal-bitbucket").enabled
        await pilot.press("6", "p")
        await settle(pilot)
        assert len(screen.plan.apps[0].deprovisions) == created and screen.plan.apps[0].threshold_exceeded()
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, TypeCountModal)
        await pilot.press(*str(created - 1), "enter")
        await settle(pilot)
        assert app.screen is modal and "type exactly" in text_of(modal.query_one("#error", Label))
        modal.query_one("#count", Input).value = ""
        await pilot.press(*str(created), "enter")
        await settle(pilot, rounds=6)
        assert [u["active"] for u in scim_directory.users()] == [False] * created


async def test_deletion_queue_applies_only_the_confirmed_deprovisions(tui_scim_home, scim_directory):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await create_policy(pilot, "it-bitbucket", "dept-it")
        await plan(pilot)
        await pilot.press("a", *CONFIRM)
        await settle(pilot, rounds=5)
        first, second = app.service.in_scope(app.service.policy("it-bitbucket"))[:2]
        for person in (first, second):
            app.service.edit_user(person.userName, status="leaver")
        app.state_changed()
        await pilot.press("8")
        await settle(pilot)
        queue_screen = app.screen
        assert isinstance(queue_screen, DeletionsScreen)
        queue = queue_screen.query_one("#queue", DataTable)
        assert sorted(r[3] for r in rows_of(queue)) == sorted([first.userName, second.userName])
        keep = rows_of(queue)[1][3]
        await pilot.press("y", "n")  # confirm the first row, cancel the second
        assert [r[0] for r in rows_of(queue)] == ["YES", "no"]
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and len(modal.items) == 1 and keep not in modal.items[0]
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=6)
        by_name = {u["userName"]: u["active"] for u in scim_directory.users()}
        gone = rows_of(queue)
        assert [r[3] for r in gone] == [keep]  # still pending, undecided
        kept_user = app.service.user(keep)
        assert by_name[kept_user.email] is True
        assert sum(1 for active in by_name.values() if not active) == 1


async def test_cancel_skips_the_operations_not_started(tui_scim_home, scim_directory):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await create_policy(pilot, "everyone", "m365-licensed")
        screen = await plan(pilot)
        total = len(screen.plan.operations)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        # keys as the terminal sends them: Pilot.press would wait until the whole run is over
        app.post_message(events.Key("tab", None))
        app.post_message(events.Key("enter", None))
        for _ in range(1000):  # until the confirmation's callback has started the run
            if screen.cancel_event is not None:
                break
            await asyncio.sleep(0.005)
        app.post_message(events.Key("c", "c"))
        await settle(pilot, rounds=8)
        run = max(app.service.store.runs, key=lambda r: r.started)
        assert isinstance(run, Run) and run.status == "cancelled"
        skipped = app.service.report(ReportFilter(run=run.id, status="skipped"))
        assert skipped and all(e.message == "cancelled by the operator" for e in skipped)
        assert len(scim_directory.users()) < total


async def test_initial_passwords_are_shown_once_and_not_kept(tui_scim_home):
    """The SCIM target sets no password; the modal and its one-time memory are checked directly."""
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        passwords = {"corp-ad: zed.new": "S3cret-Init!"}
        app.push_screen(PasswordsModal(passwords))
        await settle(pilot)
        assert "S3cret-Init!" in app.export_screenshot()  # on the screen
        await pilot.press("enter")
        await settle(pilot)
        assert passwords == {} and not isinstance(app.screen, PasswordsModal)


async def test_deprovision_path_plan_shows_the_deletion_the_named_button_confirms_the_report_records_it(
        tui_scim_home, scim_directory):
    """A person deleted through the console loses their account at the next sync: the plan names the deletion,
    no letter confirms it (only Tab to the named button), the account is gone from the directory and the report
    records the deletion for that person."""
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.service.set_app(APP, {"deprovision": "delete", "delete_grace_days": "0", "features.delete": "true"})
        await create_policy(pilot, "legal-bitbucket", "dept-legal")
        screen = await plan(pilot)
        await pilot.press("a", *CONFIRM)
        await settle(pilot, rounds=5)
        leaver = app.service.in_scope(app.service.policy("legal-bitbucket"))[0]
        assert leaver.email in [u["userName"] for u in scim_directory.users()]
        # deleted through the console: the person's page, d, Tab to the named button, Enter
        await pilot.press("2", "slash", *leaver.userName)
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=5)
        assert app.service.user_by_id(leaver.id) is None
        # the plan shows the deletion
        screen = await plan(pilot)
        assert [(op.action, op.person) for op in screen.plan.operations] == [("delete", leaver.email)]  # the account
        tree = screen.query_one("#plan", Tree)
        assert "1 delete" in str(tree.root.children[0].label)
        # no letter confirms it; the named button does
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and "Deprovision 1 account(s) in bitbucket-cloud?" in modal.title_text
        assert any(leaver.userName in item for item in modal.items)
        await pilot.press(*"yYa", "space")
        await settle(pilot)
        assert app.screen is modal and leaver.email in [u["userName"] for u in scim_directory.users()]
        await pilot.press(*CONFIRM)
        await settle(pilot, rounds=6)
        assert leaver.email not in [u["userName"] for u in scim_directory.users()]
        # the report records it, for that person
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("f", *leaver.userName, "enter")
        await settle(pilot)
        events = rows_of(app.screen.query_one("#events", DataTable))
        assert [(e[1], e[3], e[4]) for e in events if e[1] == APP] == [(APP, "delete", "success"),
                                                                      (APP, "create", "success")]
        assert [e[3] for e in events if e[3] == "user_delete"] == ["user_delete"]

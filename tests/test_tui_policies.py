"""The Policies screen: create (errors next to the field), who is in scope, disable (asks), enable, delete."""
from __future__ import annotations

from textual.widgets import DataTable, Input, Label, Select, SelectionList, Static

from screens.app import make_app
from screens.modals import ConfirmModal
from screens.policies import PolicyForm
from tests.plugins.tui import CONFIRM, rows_of, settle, text_of


async def test_create_needs_a_group_then_previews_who_is_in_scope(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4", "n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, PolicyForm)
        await pilot.press(*"montreal")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "choose the application" in text_of(form.query_one("#error-app", Static))
        form.query_one("#f-app").value = "bitbucket-cloud"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "needs at least one group" in text_of(form.query_one("#error-groups", Static))
        form.query_one("#f-groups", SelectionList).select("Équipe Montréal")
        form.query_one("#f-login_method").value = "password"
        await pilot.press("ctrl+s")
        await settle(pilot)
        policy = app.service.policy("montreal")
        assert policy.groups == ["Équipe Montréal"] and policy.login_method == "password"
        in_scope = app.service.in_scope(policy)
        assert f"In scope of montreal → bitbucket-cloud: {len(in_scope)}" == \
            text_of(app.screen.query_one("#scope-title", Label))
        assert sorted(r[0] for r in rows_of(app.screen.query_one("#scope", DataTable))) == \
            sorted(u.userName for u in in_scope)


async def test_disable_asks_enable_does_not_and_delete_asks(tui_scim_home):
    app = make_app(tui_scim_home)
    app.service.create_policy("legal", "bitbucket-cloud", ["dept-legal"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and "Disable legal?" == app.screen.title_text
        await pilot.press("escape")
        await settle(pilot)
        assert app.service.policy("legal").enabled
        await pilot.press("space", *CONFIRM)
        await settle(pilot)
        assert not app.service.policy("legal").enabled
        assert rows_of(app.screen.query_one("#policies", DataTable))[0][4] == "NO"
        assert "DISABLED" in text_of(app.screen.query_one("#scope-title", Label))
        await pilot.press("t")  # the plain alternative of space
        await settle(pilot)
        assert app.service.policy("legal").enabled
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and "bitbucket-cloud" in app.screen.body
        await pilot.press(*CONFIRM)
        await settle(pilot)
        assert app.service.policies() == []


async def test_edit_a_policy_with_the_checks_of_create(tui_scim_home, with_service):
    with_service(tui_scim_home, lambda svc: svc.create_policy("legal-bitbucket", "bitbucket-cloud", ["dept-legal"]))
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, PolicyForm) and form.query_one("#f-name", Input).value == "legal-bitbucket"
        ticks = form.query_one("#f-groups", SelectionList)
        assert list(ticks.selected) == ["dept-legal"]
        ticks.deselect_all()
        await pilot.press("f2")
        await settle(pilot)
        assert app.screen is form and app.service.policy("legal-bitbucket").groups == ["dept-legal"]
        ticks.select("dept-finance")
        form.query_one("#f-login_method", Select).value = "password"
        await pilot.press("f2")
        await settle(pilot)
        assert not isinstance(app.screen, PolicyForm)
        policy = app.service.policy("legal-bitbucket")
        assert (policy.groups, policy.login_method) == (["dept-finance"], "password")

"""The Applications screen: kinds not in this build are marked, the form comes from the kind's SETTINGS,
a typed secret never reaches the state file, the connection test runs against a real SCIM directory,
features are switched, removal asks first."""
from __future__ import annotations

from textual.widgets import Checkbox, Input, OptionList, Static

from console import connectors
from console.errors import NotConfigured
from console.connectors import KINDS as APP_KINDS
from screens.app import make_app
from screens.apps import AppForm, KindPicker
from screens.modals import ConfirmModal, NoticeModal
from tests.plugins.tui import CONFIRM, settle, text_of


def available(kind: str) -> bool:
    try:
        connectors.settings_for(kind)
        return True
    except NotConfigured:
        return False


async def test_kind_picker_marks_connectors_missing_from_this_build(tui_home):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "n")
        await settle(pilot)
        assert isinstance(app.screen, KindPicker)
        options = app.screen.query_one(OptionList)
        for index, kind in enumerate(APP_KINDS):
            option = options.get_option_at_index(index)
            assert option.id == kind
            assert option.disabled is not available(kind)
            assert ("not in this build" in str(option.prompt)) is not available(kind)
        await pilot.press("escape")
        await settle(pilot)
        assert app.service.apps() == []


async def test_add_atlassian_from_its_settings_with_a_typed_secret_that_never_reaches_the_state(
        tui_home, scim_directory, monkeypatch):
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "n")
        await settle(pilot)
        await pilot.press("enter")  # atlassian is the first kind
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AppForm) and form.kind == "atlassian"
        names = {s.name for s in connectors.settings_for("atlassian") if s.name not in ("features", "deprovision",
                                                                                        "max_concurrency")}
        assert all(form.query(f"#f-{name}") for name in names)  # one field per setting
        form.query_one("#f-name", Input).value = "bitbucket-cloud"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "is required" in text_of(form.query_one("#error-base_url", Static))
        form.query_one("#f-base_url", Input).value = scim_directory.base_url
        form.query_one("#f-token", Input).value = scim_directory.token
        form.query_one("#f-features-delete", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        notice = app.screen
        secret_file = tui_home / "secrets" / "bitbucket-cloud.token"
        assert isinstance(notice, NoticeModal) and str(secret_file) in notice.body  # no keyring on this machine
        await pilot.press("enter")
        saved = app.service.app("bitbucket-cloud")
        assert saved.secrets == {"token": f"file:{secret_file}"} and saved.features["delete"] is True
        assert saved.settings["base_url"] == scim_directory.base_url
        assert secret_file.read_text() == scim_directory.token and secret_file.stat().st_mode & 0o077 == 0
        state = (tui_home / "state.json").read_bytes()
        assert scim_directory.token.encode() not in state
        # the connection test reads the file and passes against the real directory
        await pilot.press("t")
        await settle(pilot, rounds=5)
        assert app.service.app("bitbucket-cloud").last_test["ok"] is True


async def test_edit_switches_features_and_keeps_a_secret_left_empty(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AppForm) and form.app_obj is not None
        form.query_one("#f-features-groups", Checkbox).value = False
        form.query_one("#f-deprovision").value = "delete"
        form.query_one("#f-threshold_count", Input).value = "x"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "must be a whole number" in text_of(form.query_one("#error-threshold_count", Static))
        assert app.service.app("bitbucket-cloud").feature("groups")  # nothing half-saved
        form.query_one("#f-threshold_count", Input).value = "25"
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = app.service.app("bitbucket-cloud")
        assert not saved.feature("groups") and saved.deprovision == "delete" and saved.threshold_count == 25
        assert saved.secrets["token"].startswith("env:")  # empty secret field: reference kept


async def test_failed_connection_test_says_why(tui_scim_home, monkeypatch):
    from tests.plugins.tui import SCIM_TOKEN_ENV

    monkeypatch.setenv(SCIM_TOKEN_ENV, "not-the-token")
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "t")
        await settle(pilot, rounds=5)
        assert isinstance(app.screen, NoticeModal) and "connection FAILED" in app.screen.title_text
        assert app.service.app("bitbucket-cloud").last_test["ok"] is False


async def test_remove_asks_and_names_what_is_forgotten(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "d")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and "bitbucket-cloud" in modal.title_text
        assert "Nothing changes in bitbucket-cloud itself" in modal.body
        await pilot.press("escape", "d", *CONFIRM)
        await settle(pilot)
        assert app.service.apps() == []


async def test_edit_refuses_an_empty_required_setting_under_its_field_as_add_does(tui_scim_home):
    app = make_app(tui_scim_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5", "e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AppForm)
        url = app.service.app("bitbucket-cloud").settings["base_url"]
        form.query_one("#f-base_url", Input).value = ""
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form
        assert "is required" in text_of(form.query_one("#error-base_url", Static))
        assert app.service.app("bitbucket-cloud").settings["base_url"] == url

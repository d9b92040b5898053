"""Snapshots (pytest-textual-snapshot) of the screens and dialogs at 80×24, in colour and under NO_COLOR, on the
tests' fixed ticking clock (tests/plugins/tui.py): dashboard, people, a person, forms, a confirmation, plan…

Update after a deliberate change of the look: `pytest tests/test_tui_snapshots.py --snapshot-update`,
then look at the SVGs in tests/snapshots/ before committing them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension

from screens.app import make_app
from screens.modals import PasswordsModal
from tests.plugins.tui import settle

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture(autouse=True)
def _snapshots_in_tests_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the SVGs in tests/snapshots/<test file>/ rather than syrupy's default __snapshots__."""
    monkeypatch.setattr(SVGImageExtension, "dirname",
                        classmethod(lambda cls, *, test_location: str(SNAPSHOTS / test_location.basename)))


def test_dashboard(snap_compare, tui_scim_home):
    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)

    assert snap_compare(make_app(tui_scim_home), terminal_size=(80, 24), run_before=ready)


def test_people_filtered(snap_compare, tui_home):
    async def filtered(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"engineering", "down")
        await settle(pilot)

    assert snap_compare(make_app(tui_home), terminal_size=(80, 24), run_before=filtered)


def test_plan_with_field_diff(snap_compare, tui_scim_home, with_service):
    with_service(tui_scim_home, lambda svc: svc.create_policy("legal-bitbucket", "bitbucket-cloud", ["dept-legal"]))

    async def planned(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("6", "p")
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")  # a small plan opens whole: the first account to create
        await settle(pilot)

    assert snap_compare(make_app(tui_scim_home), terminal_size=(80, 24), run_before=planned)


@pytest.fixture(params=["colour", "no_color"])
def palette(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each snapshot below in colour and without (NO_COLOR: focus and cursor must still show)."""
    if request.param == "no_color":
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    return request.param


SCREENS = {
    "person": ("2", "enter"),
    "user_form": ("2", "e"),
    "confirm_delete": ("2", "enter", "d"),
    "groups": ("3",),
    "group_form": ("3", "e"),
    "policy_form": ("4", "n"),
    "apps": ("5",),
    "app_form": ("5", "e"),
    "reports": ("7",),
    "export": ("7", "x"),
    "help": ("2", "question_mark"),
}


@pytest.fixture
def fixed_home(tui_home, with_service):
    """The sample home with an application whose settings do not change between runs (no sandbox port)."""
    with_service(tui_home, lambda svc: svc.add_app("atlassian", "bitbucket-cloud",
                                                   {"base_url": "https://api.atlassian.com/scim/directory/d-1"},
                                                   {"token": "env:IDCONSOLE_SNAPSHOT_TOKEN"}))
    return tui_home


@pytest.mark.parametrize("view", sorted(SCREENS))
def test_view(snap_compare, fixed_home, palette, view):
    async def shown(pilot) -> None:  # type: ignore[no-untyped-def]
        for key in SCREENS[view]:
            await pilot.press(key)
            await settle(pilot)

    assert snap_compare(make_app(fixed_home), terminal_size=(80, 24), run_before=shown)


def test_initial_passwords(snap_compare, fixed_home, palette):
    """The provisioning's passwords modal: shown once, each account's whole name (long ones wrap, never cut)."""
    passwords = {
        "corp-ad: Alexandros Papadopoulos-Konstantinidis (alexandros.papadopoulos@northwind.example)": "Qx7!mR2#vL9p",
        "corp-ad: Anne-Marie Dubois-Lefèvre (anne-marie.dubois@northwind.example)": "Hn4$wT8&zK1c",
        "m365: Seán O'Brien (sean.obrien@northwind.example)": "Pb6%yD3*jF5s",
    }

    async def shown(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.push_screen(PasswordsModal(dict(passwords)))
        await settle(pilot)

    assert snap_compare(make_app(fixed_home), terminal_size=(80, 24), run_before=shown)

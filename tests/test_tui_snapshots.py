"""Snapshots (pytest-textual-snapshot) of the key screens at 80×24: dashboard, people, plan.

Update after a deliberate change of the look: `pytest tests/test_tui_snapshots.py --snapshot-update`,
then look at the SVGs in tests/snapshots/ before committing them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension

from screens.app import make_app
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

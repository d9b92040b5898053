"""Initial passwords leave the console once, to a new private file written by the core; the modal shows whole names."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from console.errors import BadInput
from console.export import write_passwords
from screens.app import make_app
from screens.modals import PasswordsModal
from tests.plugins.tui import settle

PASSWORDS = {"corp-ad: venkatanarayanan.ramaswamy-subramanian@northwind.example": "S3cret-Init!",
             "corp-ad: zed.new": "Other-0ne"}


def test_passwords_go_to_a_new_0600_file_outside_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = write_passwords(str(tmp_path / "pw.csv"), dict(PASSWORDS), home=home)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    lines = target.read_text().splitlines()
    assert lines[0] == "application,account,initial_password"
    assert "corp-ad,venkatanarayanan.ramaswamy-subramanian@northwind.example,S3cret-Init!" in lines
    with pytest.raises(BadInput, match="exists already"):
        write_passwords(str(target), dict(PASSWORDS), home=home)
    with pytest.raises(BadInput, match="inside the idconsole home"):
        write_passwords(str(home / "pw.csv"), dict(PASSWORDS), home=home)
    os.symlink(tmp_path / "elsewhere.csv", tmp_path / "link.csv")
    with pytest.raises(BadInput, match="symbolic link"):
        write_passwords(str(tmp_path / "link.csv"), dict(PASSWORDS), home=home)


async def test_the_modal_exports_once_and_shows_whole_names(tui_home, tmp_path: Path) -> None:
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        passwords = dict(PASSWORDS)
        modal = PasswordsModal(passwords)
        app.push_screen(modal)
        await settle(pilot)
        console = Console(width=66, no_color=True)
        with console.capture() as captured:
            console.print(modal.query_one("#items-text", Static).content)
        shown = captured.get()
        assert "…" not in shown and "venkatanarayanan.ramaswamy-s" in shown and "@northwind.example" in shown
        field = modal.query_one("#path", Input)
        modal.set_focus(field)
        field.value = str(tmp_path / "initial.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert (tmp_path / "initial.csv").exists() and field.disabled and app.screen is modal
        assert stat.S_IMODE((tmp_path / "initial.csv").stat().st_mode) == 0o600
        await pilot.press("escape")
        await settle(pilot)
        assert passwords == {}

"""The real console in a real terminal: tmux at 80×24, NO_COLOR, keys only; the screen is read back
with capture-pane. CI installs tmux (scripts/ensure-system-packages.sh)."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Tmux:
    """One private tmux server (its own socket) running one session; killed at the end."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self.session = name

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.run("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24", f"env {exports} {command}")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once it shows every one of `texts` (polled; the deadline only bounds a hung console)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} never appeared; the screen was:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while text in screen and time.monotonic() < deadline:
            time.sleep(0.1)
            screen = self.screen()
        assert text not in screen, f"{text!r} stayed on the screen:\n{screen}"
        return screen

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run scripts/ensure-system-packages.sh (CI does)")
    session = Tmux(f"idconsole-test-{os.getpid()}")
    try:
        yield session
    finally:
        session.kill()


def test_console_in_tmux_80x24_no_color_keyboard_only(tmux: Tmux, tui_home: Path, tmp_path: Path):
    exit_file = tmp_path / "exit-code"
    command = (f"sh -c 'cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m screens "
               f"--home {shlex.quote(str(tui_home))}; echo $? > {shlex.quote(str(exit_file))}'")
    tmux.start(command, {"NO_COLOR": "1", "TERM": "xterm-256color", "IDCONSOLE_HOME": str(tmp_path / "unused")})
    screen = tmux.wait_for("1 Home", "300 people", "Recent events")
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "1 Home" in lines[0] and "8 Deletions" in lines[0]
    tmux.keys("2")
    tmux.wait_for("first 200 of 300 people")
    tmux.keys("/")
    tmux.type("naomi")  # typed at once after `/`: `n` (add) and `e` (edit) must land in the filter
    screen = tmux.wait_for("people match")
    assert "naomi.morales" in screen and "Add a person" not in screen and "adebayo.hall" not in screen
    tmux.keys("C-u")
    tmux.wait_for("first 200 of 300 people")  # as an operator does: see the filter cleared, then type on
    tmux.type("smith")
    screen = tmux.wait_for("smith", "people match")
    assert "john.smith" in screen and "john.smith2" in screen and "naomi" not in screen
    tmux.keys("Down", "Enter")
    screen = tmux.wait_for("groups:")
    assert "John Smith" in screen and "Accounts" in screen
    tmux.keys("?")
    screen = tmux.wait_for("Help — users")
    assert "esc" in screen.lower() and "1 … 8" in screen
    tmux.keys("Escape")
    tmux.wait_gone("Help — users")
    tmux.keys("Escape")
    tmux.wait_for("people match")
    tmux.keys("3")
    screen = tmux.wait_for("Groups (18)")
    assert "n New" in screen and "a Add members" in screen  # the footer names the keys
    tmux.keys("q")
    deadline = time.monotonic() + 20
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"

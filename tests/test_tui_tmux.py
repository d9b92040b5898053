"""The real console in a real terminal: tmux at 80×24, NO_COLOR, keys only; the screen is read back
with capture-pane. CI installs tmux (scripts/ensure-system-packages.sh).

Robust under load: after every key that changes what is shown, the test waits (polling, with a generous deadline
that only bounds a hung console) for the text that proves the console got there before it types on — keys typed
ahead of a dialog are dropped by design, so typing on blindly would be a race. It never sleeps and hopes."""
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

    def wait_for(self, *texts: str, absent: tuple[str, ...] = (), timeout: float = 60.0) -> str:
        """The screen once it shows every one of `texts` and none of `absent` (polled; the deadline only bounds a
        hung console: a count line may be drawn a frame before the rows it counts)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts) and not any(text in screen for text in absent):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} (without {absent!r}) never appeared; the screen was:\n{screen}")

    def wait_line(self, *parts: str, timeout: float = 60.0) -> str:
        """The screen once one of its lines shows every one of `parts` (e.g. a field's label and its value)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if any(all(part in line for part in parts) for line in screen.splitlines()):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"no line showed {parts!r}; the screen was:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 60.0) -> str:
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


TOUR_START = "2026-11-05T09:00:00+00:00"  # the tour's clock (tests/console_on_clock.py); the seeded home is older
TOUR_TOKEN_ENV = "IDCONSOLE_TOUR_SCIM_TOKEN"
APP, GROUP, POLICY, PERSON = "mo-scim", "apps-miniorange", "mo-scim-users", "zed.tour"


def groups_drawn(tmux: Tmux, timeout: float = 60.0) -> tuple[str, str]:
    """The groups screen once drawn whole (a loaded machine showed its title over the rows of the screen before) and
    the group under the cursor, which the right pane's first line names."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux.wait_for("Groups (19)", "ad-users", GROUP)
        title = next(line for line in screen.splitlines() if "Groups (19)" in line)
        selected = title.split("▏")[-1].strip() if "▏" in title else ""
        if selected and any(f"▌ {selected} " in line for line in screen.splitlines()):
            return screen, selected
        time.sleep(0.1)
    raise AssertionError(f"the groups screen was never drawn whole; the screen was:\n{screen}")


def row_offset(screen: str, first: str, wanted: str) -> int:
    """How many rows below the row containing `first` the row containing `wanted` is (↓ presses from one to the
    other in a list), read off the screen."""
    lines = screen.splitlines()
    top = next(i for i, line in enumerate(lines) if first in line)
    return next(i for i, line in enumerate(lines) if wanted in line and i >= top) - top


def test_the_miniorange_guide_at_80x24_keyboard_only(tmux: Tmux, tui_home: Path, tmp_path: Path, scim_directory):
    """The miniOrange guide's steps, each asserted on the screen: an application, a group, a policy binding them,
    a person, into the group, edited, deleted (Tab to the named button), and the report by person, by application
    and by a time span."""
    exit_file = tmp_path / "exit-code"
    command = (f"sh -c 'cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m tests.console_on_clock "
               f"{TOUR_START} --home {shlex.quote(str(tui_home))}; echo $? > {shlex.quote(str(exit_file))}'")
    tmux.start(command, {"NO_COLOR": "1", "TERM": "xterm-256color", "IDCONSOLE_HOME": str(tmp_path / "unused"),
                         TOUR_TOKEN_ENV: scim_directory.token})
    tmux.wait_for("1 Home", "300 people", "Recent events")

    # 1. the application: the SCIM directory, its token from the environment (the first kind listed)
    tmux.keys("5")
    tmux.wait_for("Applications (0)", "n Add")
    tmux.keys("n")
    tmux.wait_line("atlassian", "Atlassian Cloud")
    tmux.keys("Enter")
    tmux.wait_for("Add Atlassian Cloud", "Directory base URL *")
    tmux.type(APP)
    tmux.keys("Tab")
    tmux.type(scim_directory.base_url)
    tmux.keys("Tab")
    tmux.type(f"env:{TOUR_TOKEN_ENV}")
    tmux.keys("F2")
    screen = tmux.wait_for("Applications (1)")
    assert APP in screen and "atlassian" in screen

    # 2. the group
    tmux.keys("3")
    tmux.wait_for("Groups (18)")
    tmux.keys("n")
    tmux.wait_for("Create a group")
    tmux.type(GROUP)
    tmux.keys("Enter")
    tmux.wait_for("Groups (19)", GROUP)

    # 3. the policy binding them: the application from its select, the group ticked in the list
    tmux.keys("4")
    tmux.wait_for("Policies (0)", "No policy yet")  # (what only this screen shows: the bars are on every screen)
    tmux.keys("n")
    tmux.wait_for("Create a policy", "Groups * (Space ticks)")
    tmux.type(POLICY)
    tmux.keys("Tab", "Enter")  # open the application's select
    tmux.wait_line("choose a target", "▲")
    tmux.wait_line(APP, "(atlassian)")
    tmux.keys("Down", "Enter")  # past the prompt, to the one target
    tmux.wait_line("Application *", f"{APP} (atlassian)")
    tmux.keys("Tab", "Tab")  # login method, then the tick list (its first group highlighted)
    screen = tmux.screen()
    tmux.keys(*["Down"] * row_offset(screen, "[ ] ad-users", f"[ ] {GROUP}"), "Space")
    tmux.wait_for(f"[x] {GROUP}")
    tmux.keys("Enter")  # Enter on the tick list creates the policy (it does not un-tick)
    tmux.wait_line(POLICY, APP)
    tmux.wait_gone("Create a policy")

    # 4. a person
    tmux.keys("2")
    tmux.wait_for("first 200 of 300 people")
    tmux.keys("n")
    tmux.wait_for("Add a person")
    for value in ("E90077", PERSON, "Zed", "Tour", "Zed Tour"):
        tmux.type(value)
        tmux.keys("Tab")
    tmux.type(f"{PERSON}@northwind.example")
    tmux.keys("Enter")
    tmux.wait_for("301 people")

    # 5. into the group, through the people picker
    tmux.keys("3")
    screen, selected = groups_drawn(tmux)
    offset = row_offset(screen, "ad-users", GROUP) - row_offset(screen, "ad-users", f"▌ {selected} ")
    tmux.keys(*["Down" if offset > 0 else "Up"] * abs(offset))
    tmux.wait_line("Groups (19)", GROUP)
    tmux.wait_line("policies:", POLICY)  # the group's pane: the policy binds it
    tmux.keys("a")
    tmux.wait_for(f"Add members to {GROUP}")
    tmux.type(PERSON)
    tmux.wait_for("1 found")
    tmux.keys("Enter")  # to the list: wait for its focus bar, the keys after Enter would overtake the move
    tmux.wait_line("▌ [ ]", PERSON)
    tmux.keys("Space")
    tmux.wait_for("1 ticked")
    tmux.keys("Enter")
    tmux.wait_line(GROUP, " 1 ")  # the group's row: one member

    # 6. the person edited: their title
    tmux.keys("2")
    tmux.wait_for("first 200 of 301 people")
    tmux.keys("/")
    tmux.type(PERSON)
    tmux.wait_for("1 of 301 people match")
    tmux.keys("Down")
    tmux.wait_line("▌", "E90077", PERSON)  # the list has the focus (its bar), not the filter
    tmux.keys("e")
    tmux.wait_for("Edit zed.tour")
    tmux.keys(*["Tab"] * 6)  # userName → given, family, display name, e-mail, department, title
    tmux.type("Tour Guide")
    tmux.keys("Enter")
    tmux.wait_gone("Edit zed.tour")
    tmux.keys("Enter")  # the person's page
    screen = tmux.wait_for("Tour Guide", "Accounts")
    assert GROUP in screen

    # 7. the person deleted: no letter confirms, Tab reaches the named button
    tmux.keys("d")
    tmux.wait_for(f"Delete {PERSON}", "Tab to the button")
    tmux.keys("y")  # a letter does nothing
    tmux.wait_for(f"Delete {PERSON}")
    tmux.keys("Tab", "Enter")
    tmux.wait_for(f"no one matches '{PERSON}'")

    # 8. the report by person (a deleted person is found), by application, by a time span
    tmux.keys("7")
    tmux.wait_for("Enter: detail · x: export")
    tmux.keys("/")
    tmux.type(PERSON)
    tmux.keys("Enter")  # (the count line tells each query's answer from the one before it)
    tmux.wait_for("4 events", "user_create", "member_add_local", "user_update", "user_delete")
    tmux.keys("/", "C-u")
    tmux.wait_for("person, part of (Enter)")  # the person filter focused and cleared (its placeholder shows)
    tmux.keys("Tab", "Enter")  # the application's select opened
    tmux.wait_line("any application", "▲")
    tmux.wait_line(APP)
    tmux.keys("Down", "Enter")
    tmux.wait_for("2 events", "app_create", "policy_create")
    tmux.wait_line("▌mo-scim", "▼")
    tmux.keys("Enter")
    tmux.wait_line("▌mo-scim", "▲")
    tmux.keys("Home", "Enter")  # any application again
    tmux.wait_for("first 500 events")
    tmux.wait_line("▌any application", "▼")  # its menu closed, the focus (its bar) back on it
    tmux.keys("Tab")
    tmux.wait_line("▌any time", "▼")
    tmux.keys("Enter")
    tmux.wait_line("▌any time", "▲")  # its menu open (keys sent before it opens would go to the select)
    tmux.keys("End", "Enter")  # the time span: from … to …, which focuses the from date
    tmux.wait_line("from … to …", "▼")
    tmux.wait_line("▌from (date)")
    tmux.type(TOUR_START[:10])
    tmux.keys("Tab")
    tmux.type(TOUR_START[:10])
    tmux.keys("Enter")
    tmux.wait_for("7 events", "app_create", "group_create_local", "policy_create", "user_delete",
                  absent=("11-02",))  # the tour's day: its seven events, none of the seeded home's
    tmux.keys("BTab", "C-u")
    tmux.type("2026-11-02")
    tmux.keys("BTab", "C-u")
    tmux.type("2026-11-02")
    tmux.keys("Enter")
    tmux.wait_for("first 500 events", "11-02 09:00", absent=("11-05",))  # the seeded home's day

    tmux.keys("q")
    deadline = time.monotonic() + 60
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"

"""Small modals shared by every screen: confirm a removal, type an exact count, show an error, a notice,
initial passwords (once), and the help of the current screen. Each returns a typed result via dismiss()."""
from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from console.errors import IdConsoleError
from screens.base import ConsoleModal


class ButtonAnswerModal(ConsoleModal):
    """A yes/no question answered by buttons only: focus starts on Cancel (#no); the named button (#yes) says yes,
    Escape or Cancel says no. Dismisses with a bool; subclasses compose the two buttons."""

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#no", Button))

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)


class ConfirmModal(ButtonAnswerModal):
    """Names what will be removed and where. No letter confirms (names are full of them): Tab to the named
    button and Enter; Escape or Enter on the focused Cancel changes nothing. Dismisses with a bool."""

    CSS_PATH = "modals.tcss"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.no", tooltip="Cancel: nothing changes"),
        Binding("right", "app.focus_next", "Next button", show=False, id="confirm.next"),
        Binding("left", "app.focus_previous", "Previous button", show=False, id="confirm.previous"),
    ]

    def __init__(self, title: str, body: str, *, confirm_label: str = "Remove", items: list[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.items = items or []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="title")
            yield Static(Text(self.body), id="body")
            if self.items:
                with VerticalScroll(id="items"):
                    yield Static(Text("\n".join(self.items), no_wrap=True, overflow="ellipsis"), id="items-text")
            yield Static("Tab to the button, then Enter · Escape cancels", id="keys")
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="no", compact=True)
                yield Button(self.confirm_label, id="yes", variant="error", compact=True)

    def action_confirm(self) -> None:
        self.dismiss(True)


class TypeCountModal(ConsoleModal):
    """Above the deletion threshold the operator types the exact number; dismisses with it, or None."""

    CSS_PATH = "modals.tcss"

    def __init__(self, count: int, where: str) -> None:
        super().__init__()
        self.count = count
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"{self.count} deprovisions exceed the deletion threshold", id="title")
            with VerticalScroll(id="items", can_focus=False):  # a long list must not push the input off screen
                yield Static(self.where, id="body")
            yield Static(f"Nothing is applied unless you type the exact number of accounts to deprovision "
                         f"({self.count}) and press Enter. Escape cancels.", id="hint")
            yield Input(placeholder=f"type {self.count}", id="count", type="integer", compact=True)
            yield Label("", id="error")

    def on_mount(self) -> None:
        self.query_one("#count", Input).focus()

    @on(Input.Submitted, "#count")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == str(self.count):
            self.dismiss(self.count)
        else:
            self.query_one("#error", Label).update(f"type exactly {self.count} to confirm, or Escape to cancel")


class ErrorModal(ConsoleModal):
    """What went wrong (title), the target's words (detail) and what to do next (hint)."""

    CSS_PATH = "modals.tcss"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter", "cancel", "Close", id="error.close", tooltip="Close this message"),
    ]

    def __init__(self, error: BaseException, doing: str = "") -> None:
        super().__init__()
        if isinstance(error, IdConsoleError):
            self.title_text, self.detail, self.hint = error.title, error.detail, error.hint
        else:
            self.title_text = f"Unexpected {type(error).__name__}" + (f" while {doing}" if doing else "")
            self.detail, self.hint = str(error), "this is a bug in idconsole: please report it with the steps that led here"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="title")
            if self.detail:
                yield Static(Text(self.detail), id="detail")
            if self.hint:
                yield Static(Text("What to do: " + self.hint), id="hint")
            yield Button("Close (Enter)", id="close", compact=True)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class NoticeModal(ConsoleModal):
    """A message the operator must read (e.g. which environment variable to set)."""

    CSS_PATH = "modals.tcss"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter", "cancel", "Close", id="notice.close", tooltip="Close this message"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="title")
            yield Static(Text(self.body), id="body")
            yield Button("Close (Enter)", id="close", compact=True)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class PasswordsModal(ConsoleModal):
    """Initial passwords of accounts just created: shown once here with the whole account name, and exportable
    once to a new private file (the core writes it: 0600, never in the home, never through a link)."""

    CSS_PATH = "modals.tcss"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter", "cancel", "Close", id="passwords.close", tooltip="Close: the passwords are forgotten"),
    ]

    def __init__(self, passwords: dict[str, str]) -> None:
        super().__init__()
        self._passwords = passwords
        self.exported: str | None = None

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), expand=True, show_header=True)
        table.add_column("application", no_wrap=True)
        table.add_column("account", overflow="fold", ratio=1)  # whole names, wrapped rather than cut
        table.add_column("initial password", no_wrap=True)
        for who, password in self._passwords.items():
            app, _, account = who.partition(": ")
            table.add_row(Text(app), Text(account), Text(password))
        with Vertical(id="dialog"):
            yield Label(f"Initial passwords ({len(self._passwords)})", id="title")
            yield Static("Shown once: hand them over now; idconsole does not store them. ↑↓ PgUp PgDn scroll.",
                         id="body")
            with VerticalScroll(id="items"):
                yield Static(table, id="items-text")
            yield Input(placeholder="export once: a new file, e.g. ~/initial-passwords.csv (0600) + Enter",
                        id="path", compact=True)
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Close (Esc)", id="close", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#items", VerticalScroll))

    def on_unmount(self) -> None:
        self._passwords.clear()

    @on(Input.Submitted, "#path")
    def _export(self, event: Input.Submitted) -> None:
        try:
            with self.console.state_lock:
                path = self.service.export_passwords(self._passwords, event.value)
        except IdConsoleError as exc:
            self.query_one("#error", Static).update(Text("! " + exc.title + (f" — {exc.hint}" if exc.hint else "")))
            return
        self.exported = str(path)
        field = self.query_one("#path", Input)
        field.value = ""
        field.placeholder = f"written to {path} (0600); it is offered once"
        field.disabled = True
        self.query_one("#error", Static).update(Text(f"{len(self._passwords)} password(s) written to {path}"))
        self.set_focus(self.query_one("#close", Button))

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class HelpModal(ConsoleModal):
    """The current screen's help text and its keys."""

    CSS_PATH = "modals.tcss"

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter,question_mark", "cancel", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        body = Text(self.text.strip() + "\n\n")
        for key, description in self.keys:
            body.append(f"{key:>12}", style="bold")
            body.append(f"  {description}\n")
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            with VerticalScroll(id="items"):
                yield Static(body, id="help-text")


class PathModal(ConsoleModal):
    """Ask for a file's path; dismisses with it (or None)."""

    CSS_PATH = "modals.tcss"

    def __init__(self, title: str, placeholder: str, hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            yield Static(self.hint, id="body")
            yield Input(placeholder=self.placeholder, id="count", compact=True)
            yield Label("Enter continues · Escape cancels", id="keys")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#count", Input))

    @on(Input.Submitted, "#count")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

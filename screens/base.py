"""What every console screen shares: the navigation bar, the footer, read-only gating of write
actions, the input model (where a key goes), and the one handler that turns a failed worker into an error modal."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, ListView, OptionList, Static, TextArea, Tree
from textual.worker import Worker, WorkerState

from console.models import User
from console.service import Service
from screens.messages import StateChanged

if TYPE_CHECKING:
    from screens.app import IdConsoleApp

# (mode, key, label) — the plain number keys that switch screens, shown in the navigation bar.
NAV = (
    ("dashboard", "1", "Home"),
    ("users", "2", "Users"),
    ("groups", "3", "Groups"),
    ("policies", "4", "Policies"),
    ("apps", "5", "Apps"),
    ("provisioning", "6", "Sync"),
    ("reports", "7", "Reports"),
    ("deletions", "8", "Deletions"),
)


# Widgets on which a single letter or digit may be a command: lists. Anywhere else (a button, a checkbox, a
# select) a letter does nothing, and in a text field it is text.
LISTS = (DataTable, Tree, ListView, OptionList)
TEXT_FIELDS = (Input, TextArea)


def ident(service: Service, user: User) -> str:
    """The identifier the service accepts for a person (primary key, else userName)."""
    return user.key(service.primary_key) or user.userName


class WorkerErrors(Screen):
    """Screens and modals alike: a worker that fails shows its error in a modal with a title and a hint."""

    shown_at = float("inf")  # when this screen last appeared (Textual's event clock): keys typed before are type-ahead

    @property
    def console(self) -> IdConsoleApp:
        return self.app  # type: ignore[return-value]

    @on(events.ScreenResume)
    def _appeared(self) -> None:
        self.shown_at = time.monotonic()  # the clock of `Message.time` (textual._time.get_time) on POSIX

    def typed_ahead(self, key: events.Key) -> bool:
        """Whether `key` was typed before this screen appeared (so it was meant for what was there before)."""
        return key.time < self.shown_at

    @property
    def service(self) -> Service:
        return self.console.service

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.console.show_error(event.worker.error, doing=event.worker.description)

    @on(StateChanged)
    def state_written(self, message: StateChanged) -> None:
        self.console.state_changed(message.what)


class NavBar(Static):
    """One line: the screens with their number keys, the current one marked, and the console's state."""

    def __init__(self, current: str) -> None:
        super().__init__(id="navbar")
        self.current = current

    def on_mount(self) -> None:
        self.watch(self.app, "sync_running", lambda _: self.refresh_bar(), init=False)
        self.refresh_bar()

    def refresh_bar(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for mode, key, label in NAV:
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key} {label} ", style=style)
        app = self.app
        status = []
        if getattr(app, "readonly", False):
            status.append("READ-ONLY: nothing can be changed here (auditor mode)")
        if getattr(app, "sync_running", False):
            status.append("● A SYNC IS RUNNING — progress on 6 Sync; changes wait until it ends")
        for line in status:
            text.append("\n")
            text.append(f" {line}", style="bold reverse")
        self.set_class(bool(status), "-status")
        self.update(text)


class ConsoleScreen(WorkerErrors):
    """A main screen (one per mode). Subclasses list their write actions and give a help text."""

    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    FILTER: ClassVar[str] = ""  # the selector of the screen's filter field, which / focuses from anywhere
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    # write actions that stay available while a sync runs (e.g. cancelling it)
    SYNC_SAFE: ClassVar[frozenset[str]] = frozenset()
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("slash", "filter", "Filter", key_display="/", id="screen.filter", tooltip="Type to filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.seen_version = -1

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and not self.FILTER:
            return False
        if action in self.WRITE_ACTIONS:
            if self.console.readonly:
                return False
            if self.console.sync_running and action not in self.SYNC_SAFE:
                return None
        return True

    def on_mount(self) -> None:
        self.watch(self.app, "sync_running", lambda _: self.refresh_bindings(), init=False)

    def on_screen_resume(self) -> None:
        if self.seen_version != self.console.state_version:
            self.seen_version = self.console.state_version
            self.reload()

    def action_filter(self) -> None:
        """/ from anywhere on the screen: the keys typed next go into the filter."""
        for widget in self.query(self.FILTER):
            if widget.focusable:
                self.set_focus(widget)
                return

    def reload(self) -> None:
        """Read what the screen shows (in a worker); called when the state changed since last shown."""

    def focus_first(self, *widgets: Widget) -> None:
        for widget in widgets:
            if widget.focusable:
                self.set_focus(widget)
                return


class ConsoleModal(WorkerErrors, ModalScreen):  # type: ignore[misc]
    """A modal of the console: Escape cancels and changes nothing."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Close without changing anything"),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)

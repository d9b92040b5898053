"""The Textual console: the app, its factory for tests (`make_app`) and its entry point (`run_app`).

Every screen calls the same `console.service.Service` as the CLI; this package never touches files
or the network itself. Screens are modes switched with the plain number keys 1–8.
"""
from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Sequence
from typing import ClassVar

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.filter import LineFilter
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, TextArea

from console.errors import IdConsoleError
from console.service import Service
from screens.apps import AppsScreen
from screens.base import LISTS, NAV, TEXT_FIELDS, ConsoleScreen, WorkerErrors
from screens.commands import ConsoleCommands
from screens.dashboard import DashboardScreen
from screens.deletions import DeletionsScreen
from screens.forms import FormModal
from screens.groups import GroupsScreen
from screens.messages import StateRefreshed
from screens.modals import ErrorModal, HelpModal
from screens.policies import PoliciesScreen
from screens.provisioning import ProvisioningScreen
from screens.reports import ReportsScreen
from screens.users import UsersScreen
from screens.visible import SHOW_CONTROLS

# the keys a text field binds itself (Input's own bindings, not the scrolling ones it inherits: ↓ in a filter
# reaches its list)
FIELD_EDITING_KEYS = frozenset(key.strip() for binding in Input.BINDINGS for key in
                               (binding.key if isinstance(binding, Binding) else binding[0]).split(","))

SCREEN_TIPS = {
    "dashboard": "Dashboard: counts, application health, recent events",
    "users": "People: filter, add, edit, delete",
    "groups": "Groups and their members",
    "policies": "Policies: who gets an account where",
    "apps": "Applications: settings, connection test, features",
    "provisioning": "Provisioning: plan and apply",
    "reports": "The provisioning report: filter, detail, export",
    "deletions": "Pending deprovisions: confirm one by one",
}


class IdConsoleApp(App[int]):
    """The console. `service` is the one facade; `readonly` hides and refuses every write."""

    TITLE = "idconsole"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, type[ConsoleScreen]]] = {  # type: ignore[assignment]
        "dashboard": DashboardScreen,
        "users": UsersScreen,
        "groups": GroupsScreen,
        "policies": PoliciesScreen,
        "apps": AppsScreen,
        "provisioning": ProvisioningScreen,
        "reports": ReportsScreen,
        "deletions": DeletionsScreen,
    }
    DEFAULT_MODE = "dashboard"
    COMMANDS = {ConsoleCommands}
    BINDINGS: ClassVar[list[Binding]] = [
        *(Binding(key, f"go('{mode}')", label, show=False, id=f"go.{mode}", tooltip=SCREEN_TIPS[mode])
          for mode, key, label in NAV),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help", tooltip="Keys and help for this screen"),
        Binding("colon", "command_palette", "Commands", key_display=":", show=False, id="app.commands",
                tooltip="Command palette (same as ctrl+p)"),
        Binding("q", "leave", "Quit", show=False, id="app.quit", tooltip="Leave the console (same as ctrl+q)"),
    ]

    sync_running: reactive[bool] = reactive(False)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then the one that shows control characters instead of sending them (visible.py)."""
        return [*super().get_line_filters(), SHOW_CONTROLS]

    def __init__(self, service: Service, *, readonly: bool = False, owns_store: bool = False) -> None:
        super().__init__()
        self.service = service
        self.readonly = readonly or service.readonly
        self.owns_store = owns_store
        self.state_lock = service.lock  # thread workers hold it while they use the service
        self.state_version = 0
        if self.readonly:
            self.sub_title = "read-only"

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """One notice at a time (errors stay until they expire): at 80×24 a stack of "saved …" toasts from the
        last steps would cover the table the operator has just moved to."""
        for earlier in list(self._notifications):
            if earlier.severity != "error":
                self._unnotify(earlier, refresh=False)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    REFRESH_SECONDS = 1.0

    def on_mount(self) -> None:
        self.set_interval(self.REFRESH_SECONDS, self.refresh_state, name="state-refresh")

    # ---- state ------------------------------------------------------------------------------
    def refresh_state(self) -> None:
        """Every second: catch up with other operators' writes (not while a form or a dialog is open, nor once the
        screens are gone: a tick can land while the console shuts down, where `self.screen` raises NoScreen)."""
        stack = self.screen_stack
        if stack and not isinstance(stack[-1], ModalScreen):
            self.catch_up()

    @work(thread=True, exclusive=True, exit_on_error=False, group="state-refresh", description="reading others' changes")
    def catch_up(self) -> None:
        if not self.state_lock.acquire(blocking=False):
            return  # a worker is using the store (a sync, a save): the next tick will do
        try:
            changed = self.service.refresh()
        except IdConsoleError:
            return  # e.g. a state file being restored: keep showing what was loaded, try again at the next tick
        finally:
            self.state_lock.release()
        if changed:
            self.post_message(StateRefreshed())

    @on(StateRefreshed)
    def others_changed_state(self) -> None:
        self.state_changed()

    def state_changed(self, what: str = "") -> None:
        """A write succeeded: screens reload what they show when next displayed."""
        self.state_version += 1
        if what:
            self.notify(what, timeout=4)
        stack = self.screen_stack  # (empty once the console is shutting down; a refresh can still arrive)
        screen = stack[-1] if stack else None
        if isinstance(screen, ConsoleScreen):
            screen.seen_version = self.state_version
            screen.reload()

    def show_error(self, error: BaseException, *, doing: str = "") -> None:
        self.push_screen(ErrorModal(error, doing))

    # ---- where a key goes ---------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Keys typed ahead of a dialog never act on it: a form takes their text into its first field, any
        other dialog drops them; on a screen just shown, only `/` and text for a focused field survive."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.drop_typed_ahead(event):
                return
            if self.tab_moves_focus_now(event) or self.edit_field_now(event) or self.focus_move_now(event):
                return
        await super().on_event(event)

    def tab_moves_focus_now(self, key: events.Key) -> bool:
        """Tab or Shift+Tab moves the focus as the key arrives. Reached the usual way (bubbling up from the focused
        widget to the screen's binding), it was overtaken by the keys typed after it, which the widget took first:
        "abc⇥def" typed fast put "def" in the first field, and Shift+Tab from the report's results then a date put
        its first characters into the table. Tab has no other meaning here (only the screen binds it, to the same
        move), so it moves now, with the widget's earlier keys taken already, in order; a text area that indents
        keeps its Tab."""
        focused = self.focused
        if key.key not in ("tab", "shift+tab") or (focused is not None and focused.disabled):
            return False
        if isinstance(focused, TextArea) and focused.tab_behavior != "focus":
            return False
        if key.key == "tab":
            self.action_focus_next()
        else:
            self.action_focus_previous()
        return True

    def edit_field_now(self, key: events.Key) -> bool:
        """A text field's own editing keys (Backspace, Ctrl+U, ←, Home, Enter…) keep their place among the letters.
        Textual runs a widget's bindings once the key has bubbled back up to the app, behind the letters typed after
        it, which the field had taken first: "abc⌫d" typed fast gave "abc", and Ctrl+U then a date cleared the date
        just typed. The action is queued on the field, behind the keys it has still to take."""
        focused = self.focused
        if not isinstance(focused, Input) or focused.disabled or key.key not in FIELD_EDITING_KEYS:
            return False
        if any(binding.priority for _, bindings in self.screen._binding_chain
               for binding in bindings.key_to_bindings.get(key.key, ())):
            return False  # a priority binding comes first, as it always does
        for binding in focused._bindings.key_to_bindings.get(key.key, ()):
            if not binding.priority:
                focused.call_later(self.run_action, binding.action, focused)
                return True
        return False

    def focus_move_now(self, key: events.Key) -> bool:
        """A binding of the screen (or a container) whose action only moves the focus — named `focus_…`, such as the
        people filter's ↓ to its list — runs as the key arrives while a text field has the focus, for Tab's reason:
        the keys typed after it are meant for the widget it moves to ("↓ Enter" typed fast opened no one: the Enter
        reached the filter). The field's earlier keys are queued on it already, so they still land there, in order."""
        focused = self.focused
        if not isinstance(focused, Input) or focused.disabled or key.is_printable or key.key in FIELD_EDITING_KEYS:
            return False
        for node, bindings in self.screen._binding_chain:
            for binding in bindings.key_to_bindings.get(key.key, ()):
                if node is focused and binding.action.startswith("scroll_"):
                    continue  # a one-line field never scrolls: Textual skips these and goes on up the chain
                move = getattr(node, f"action_{binding.action}", None) if binding.action.startswith("focus_") else None
                if binding.priority or move is None or not callable(move):
                    return False  # any other binding takes the key the usual way
                move()
                return True
        return False

    def drop_typed_ahead(self, key: events.Key) -> bool:
        screen = self.screen
        if not isinstance(screen, WorkerErrors) or not screen.typed_ahead(key) or key.key == "escape":
            return False
        if isinstance(screen, FormModal):
            if key.is_printable and key.character:
                screen.type_ahead(key.character)
            return True
        if isinstance(screen, ModalScreen):
            return True
        focused = self.focused
        return not (key.key == "slash" or (isinstance(focused, TEXT_FIELDS) and key.is_printable))

    def _on_key(self, event: events.Key) -> None:  # type: ignore[override]
        """A key no widget took. Type-ahead follows focus: one that reaches the app while a text field now has
        focus was meant for it (a fast `/nina` must not press `n`, add). A letter or digit is a command only
        while a list has focus: on a button, a checkbox or a select it does nothing."""
        if self.drop_typed_ahead(event):  # checked again here: a key reaches the bindings after its widget had it
            event.prevent_default()
            return
        focused = self.focused
        if isinstance(focused, Input) and event.is_printable and event.character and not focused.disabled:
            focused.insert_text_at_cursor(event.character)
            event.prevent_default()  # Textual calls App._on_key after this one (MRO dispatch): no binding
        elif event.character and event.character.isalnum() and not (focused is None or isinstance(focused, LISTS)):
            event.prevent_default()

    # ---- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("go", "leave") and isinstance(self.screen, ModalScreen):
            return False  # a dialog is answered or closed first (ctrl+q still quits)
        return True

    async def action_go(self, mode: str, then: str = "") -> None:
        await self.switch_mode(mode)
        if then:
            await self.run_action(then, self.screen)

    def action_help(self) -> None:
        screen = self.screen
        text = getattr(screen, "HELP", "") or "Keys of this screen:"
        text = "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node not in (screen, self) or binding.action.startswith("go(") or binding.action.split(".")[-1] in (
                    "quit", "leave", "copy_text", "screenshot", "command_palette", "help_quit", "app.quit"):
                continue  # widget keys (cursor movement …) are the usual ones; global keys are summed up below
            if not active.enabled or binding.action in seen or not (binding.description or binding.tooltip):
                continue
            seen.add(binding.action)
            keys.append((binding.key_display or self.get_key_display(binding), binding.tooltip or binding.description))
        keys.append(("1 … 8", "switch screens: " + ", ".join(f"{k} {label}" for _, k, label in NAV)))
        keys.append((": or ^p", "command palette (type e.g. 'users: add', 'sync: plan')"))
        keys.append(("q or ^q", "quit"))
        title = f"Help — {getattr(screen, 'MODE', '') or type(screen).__name__}"
        self.push_screen(HelpModal(title, text, keys))

    async def action_leave(self) -> None:
        await self.action_quit()

    async def action_quit(self) -> None:
        if self.sync_running:
            self.notify("A sync is running: cancel it first (6, then c) or wait for it to finish.",
                        severity="warning", timeout=6)
            return
        self.exit(0)

    def on_unmount(self) -> None:
        if self.owns_store:
            self.service.close()


def make_app(home: Path | None, *, readonly: bool = False, service: Service | None = None) -> IdConsoleApp:
    """The console on `home` (tests use a temp home), or on a service already opened by the caller."""
    if service is not None:
        return IdConsoleApp(service, readonly=readonly)
    return IdConsoleApp(Service.open(home, readonly=readonly), readonly=readonly, owns_store=True)


def open_service(home: Path | None, readonly: bool) -> tuple[Service | None, int]:
    """Open the state (no lock is held while the console is open: each write takes it briefly)."""
    try:
        return Service.open(home, readonly=readonly), 0
    except IdConsoleError as exc:
        print(f"error: {exc.title}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return None, exc.exit_code


def run_app(home: Path | None, readonly: bool = False) -> int:
    """`idconsole` with no command: open the state, run the console, close the state."""
    service, code = open_service(home, readonly)
    if service is None:
        return code
    try:
        app = IdConsoleApp(service, readonly=service.readonly)
        app.run()
        return int(app.return_code or 0)
    finally:
        service.close()

"""Forms in modals: one row per field, the service's validation error shown next to the field it names.

A form saves through the service in a worker; a `ValidationError` comes back as `FieldRejected` and
the form stays open with the message under that field; on success the form dismisses with the object.
"""
from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static

from console.errors import IdConsoleError, ValidationError
from screens.base import ConsoleModal
from screens.messages import FieldRejected, Saved

GENERAL = "_general"


def field_id(name: str) -> str:
    """A field name as a widget id (`features.delete` -> `features-delete`)."""
    return name.replace(".", "-")


def rejection(exc: IdConsoleError) -> FieldRejected:
    """Where a refused value's message goes: the field a ValidationError names, else the form's top line."""
    if isinstance(exc, ValidationError):
        text = f"{exc.value!r} {exc.rule}" if exc.value not in ("", None) else exc.rule
        if exc.hint:
            text += f" — {exc.hint}"
        return FieldRejected(exc.field, text)
    text = exc.title + (f": {exc.detail}" if exc.detail else "") + (f" — {exc.hint}" if exc.hint else "")
    return FieldRejected(GENERAL, text)


class FormModal(ConsoleModal):
    """Base of the console's forms. Enter in a field or the Save button submits; Escape cancels."""

    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without saving"),
        Binding("f2,ctrl+s", "submit", "Save", key_display="F2", id="form.save",
                tooltip="Save from anywhere in the form (also ctrl+s; Enter in a field or on a tick box)"),
    ]
    heading = "Form"
    save_label = "Save"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.heading, id="title")
            yield Static("", id=f"error-{GENERAL}", classes="field-error")
            with VerticalScroll(id="fields"):
                yield from self.compose_fields()
            yield Static("", id="help")
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="cancel", compact=True)
                yield Button(f"{self.save_label} (Enter · F2)", id="save", variant="primary", compact=True)

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def row(self, name: str, label: str, widget: Widget, help_text: str = "") -> ComposeResult:
        """A labelled field with its (hidden) error line; its help shows below the fields while it has focus."""
        name = field_id(name)
        if help_text:
            self.helps[widget.id or ""] = help_text
        with Horizontal(classes="field", id=f"row-{name}"):
            yield Label(label, classes="field-label")
            yield widget
        yield Static("", id=f"error-{name}", classes="field-error")

    @property
    def helps(self) -> dict[str, str]:
        if not hasattr(self, "_helps"):
            self._helps: dict[str, str] = {}
        return self._helps

    def on_key(self, event: events.Key) -> None:
        """One meaning for Enter in a form: submit it (from a field, a check box or a tick list — Space
        ticks). A Select opens with Enter, a button presses, and a multi-line box takes a new line."""
        if event.key == "enter" and isinstance(self.focused, (Checkbox, SelectionList)):
            event.prevent_default()
            event.stop()
            self.action_submit()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        help_text = self.helps.get(event.widget.id or "", "")
        self.query_one("#help", Static).update(Text(help_text))

    def on_mount(self) -> None:
        for widget in self.query("#fields Input, #fields Select"):
            if widget.focusable and not widget.disabled:
                self.set_focus(widget)
                break
        self.replay_type_ahead()

    def type_ahead(self, text: str) -> None:
        """Text typed before the form appeared goes into its first field, not lost and never a command."""
        self._pending = getattr(self, "_pending", "") + text
        if self.is_mounted:
            self.replay_type_ahead()

    def replay_type_ahead(self) -> None:
        pending, self._pending = getattr(self, "_pending", ""), ""
        focused = self.focused
        if pending and isinstance(focused, Input):
            focused.insert_text_at_cursor(pending)

    # ---- values -----------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        widget = self.query_one(f"#f-{field_id(name)}")
        if isinstance(widget, Input):
            return widget.value.strip()
        if isinstance(widget, Select):
            return None if widget.value is Select.NULL else widget.value
        return getattr(widget, "value", None)

    # ---- errors -----------------------------------------------------------------------------
    def clear_errors(self) -> None:
        for widget in self.query(".field-error"):
            widget.update("")  # type: ignore[attr-defined]
            widget.remove_class("shown")

    @on(FieldRejected)
    def show_rejection(self, message: FieldRejected) -> None:
        field = field_id(message.field) if self.query(f"#error-{field_id(message.field)}") else GENERAL
        error = self.query_one(f"#error-{field}", Static)
        error.update(Text("! " + (message.text if field != GENERAL or message.field == GENERAL
                                  else f"{message.field}: {message.text}")))
        error.add_class("shown")
        if field != GENERAL:
            target = self.query_one(f"#f-{field}")
            self.set_focus(target)
            error.scroll_visible()

    @on(Checkbox.Changed)
    def _say_on_or_off(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = "on" if event.value else "off"  # readable without colour

    @on(Saved)
    def saved(self, message: Saved) -> None:
        self.dismiss(message.result)

    # ---- submit -----------------------------------------------------------------------------
    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.console.readonly:
            self.post_message(FieldRejected(GENERAL, "the console is read-only: nothing can be saved"))
            return
        self.clear_errors()
        self.submit()

    def submit(self) -> None:
        """Collect the values and start the save worker."""

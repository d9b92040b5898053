"""Tables laid out for the terminal they are in (80×24 first): identifying columns are shown whole, the others
give way, the widest first, and a row's detail view shows what they cut."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widgets import DataTable

MIN_WIDTH = 6  # a column that gives way keeps at least this many cells (or its whole content when shorter)


def give_way(available: int, wanted: list[int], order: list[int] | None = None, floor: int = MIN_WIDTH) -> list[int]:
    """Widths for the columns that give way: their whole content when it all fits `available`; else they shrink
    one after another in `order` (indexes; default right to left), each down to `floor` (or its content when
    shorter), until the rest fits."""
    widths = list(wanted)
    excess = sum(widths) - available
    for index in order if order is not None else reversed(range(len(widths))):
        if excess <= 0:
            break
        cut = min(excess, widths[index] - min(wanted[index], floor))
        widths[index] -= cut
        excess -= cut
    return widths


MESSAGE_WIDTH = 24  # a message shown where a name usually is (an event without a person) is clipped to this


def object_cell(person: str, message: str) -> str:
    """An event's "person / object" cell: the person whole (identifying), else its message clipped (the event's
    detail shows it whole)."""
    if person:
        return person
    if not message:
        return "-"
    return message if len(message) <= MESSAGE_WIDTH else message[:MESSAGE_WIDTH - 1] + "…"


class FitTable(DataTable[Any]):
    """A DataTable whose `identifying` columns (keys or labels: the name, the person, the application) are never
    cut; the other columns share what is left. Widths follow the content and the table's width, re-fitted when
    rows change or the terminal is resized. Cells given as strings are shown as plain text (never markup)."""

    def __init__(self, *args: Any, identifying: Iterable[str] = (), gives_way: Iterable[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identifying = frozenset(identifying)
        self.gives_way = list(gives_way)  # keys or labels, the first gives way first; the rest then right to left

    def add_column(self, label: Any, *, width: int | None = None, key: str | None = None,
                   default: Any = None) -> Any:
        """Every column is sized from its content (a width given is ignored: the fit decides)."""
        return super().add_column(label, width=None, key=key, default=default)

    @staticmethod
    def cell(value: Any) -> Any:
        """Text from outside is data, never markup; where a column gives way, its cut ends in an ellipsis."""
        return Text(value, no_wrap=True, overflow="ellipsis", end="") if isinstance(value, str) else value

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None) -> Any:
        return super().add_row(*map(self.cell, cells), height=height, key=key, label=label)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        super().update_cell(row_key, column_key, self.cell(value), update_width=update_width)

    def clear(self, columns: bool = False) -> Any:
        """As DataTable.clear; the columns kept are sized from their labels again (then from the new rows)."""
        super().clear(columns)
        for column in self.columns.values():
            column.content_width = column.label.cell_len
        return self

    @staticmethod
    def name_of(column: Any) -> str:
        return str(column.key.value) if column.key.value is not None else column.label.plain

    def is_identifying(self, column: Any) -> bool:
        return column.key.value in self.identifying or column.label.plain in self.identifying

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        super()._update_dimensions(new_rows)
        self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Set each column's width: identifying ones their content, the others `give_way` in the rest."""
        room = self.size.width - self.styles.scrollbar_size_vertical - self._row_label_column_width
        columns = self.ordered_columns
        if room <= 0 or not columns:
            return
        padding = 2 * self.cell_padding * len(columns)
        fixed = sum(c.content_width for c in columns if self.is_identifying(c))
        others = [c for c in columns if not self.is_identifying(c)]
        names = [self.name_of(c) for c in others]
        order = [names.index(n) for n in self.gives_way if n in names]
        order += [i for i in reversed(range(len(others))) if i not in order]
        wanted = [c.content_width for c in others]
        widths = dict(zip((c.key for c in others), give_way(room - padding - fixed, wanted, order)))
        changed = False
        for column in columns:
            width = column.content_width if self.is_identifying(column) else widths[column.key]
            if column.auto_width or column.width != width:
                column.width, column.auto_width, changed = width, False, True
        if changed:
            total = sum(c.get_render_width(self) for c in columns) + self._row_label_column_width
            self.virtual_size = Size(total, self.virtual_size.height)
            self._clear_caches()
            self.refresh()

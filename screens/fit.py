"""Tables laid out for the terminal they are in (80×24 first): identifying columns are shown whole for the rows in
view, the others give way in a declared order down to their floors, and a line under the table shows the highlighted
row's cut cells whole."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.render import measure
from textual.widgets import DataTable, Static

MIN_WIDTH = 6  # a column that gives way keeps at least this many cells (or its whole content when shorter)


def give_way(available: int, wanted: list[int], order: list[int] | None = None, floor: int = MIN_WIDTH,
             floors: list[int] | None = None) -> list[int]:
    """Widths for the columns that give way: their whole content when it all fits `available`; else they shrink
    one after another in `order` (indexes; default right to left), each down to its floor (`floors[i]`, else
    `floor`; its content when shorter), until the rest fits."""
    widths = list(wanted)
    excess = sum(widths) - available
    for index in order if order is not None else reversed(range(len(widths))):
        if excess <= 0:
            break
        least = min(wanted[index], floors[index] if floors is not None else floor)
        cut = min(excess, max(0, widths[index] - least))
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


def plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


class FitTable(DataTable[Any]):
    """A DataTable whose `identifying` columns (keys or labels: the name, the person, the application) are never
    cut in the rows in view; the other columns share what is left, giving way in the `gives_way` order (then right
    to left) down to their `floors` (default MIN_WIDTH); the table scrolls sideways only when the identifying
    columns and the floors need more than its width. Widths follow the rows in view (an outlier further down costs
    the other pages nothing) and are fitted again on scroll, cursor move, row changes and resize. Cells given as
    strings are shown as plain text (never markup)."""

    def __init__(self, *args: Any, identifying: Iterable[str] = (), gives_way: Iterable[str] = (),
                 floors: Mapping[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identifying = frozenset(identifying)
        self.gives_way = list(gives_way)  # keys or labels, the first gives way first; the rest then right to left
        self.floors = dict(floors or {})  # key or label → the width under which the column never gives way
        self.cut_line: CutLine | None = None

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
        self.call_after_refresh(self.fit)

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

    def floor_of(self, column: Any) -> int:
        return self.floors.get(self.name_of(column), self.floors.get(column.label.plain, MIN_WIDTH))

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        super()._update_dimensions(new_rows)
        self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.fit()

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self.show_cut()

    def watch_cursor_coordinate(self, old_coordinate: Coordinate, new_coordinate: Coordinate) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        self.show_cut()

    def rows_in_view(self) -> list[int]:
        """Indexes of the rows the table shows at its scroll offset (only these are measured)."""
        first = max(0, round(self.scroll_y))
        shown = max(0, self.scrollable_content_region.height - (self.header_height if self.show_header else 0))
        keys = dict.fromkeys(key for key, _ in self._y_offsets[first:first + shown])
        return [index for index in (self._row_locations.get(key) for key in keys) if index is not None]

    def cell_widths(self, row_index: int) -> list[int]:
        console = self.app.console
        return [measure(console, renderable, 1) for renderable in self._get_row_renderables(row_index)[1]]

    def view_widths(self) -> list[int]:
        """Each column's width for the rows in view: its label, or its widest cell there."""
        widths = [column.label.cell_len for column in self.ordered_columns]
        for row_index in self.rows_in_view():
            widths = [max(pair) for pair in zip(widths, self.cell_widths(row_index))]
        return widths

    def fit(self) -> None:
        """Set each column's width: identifying ones their content in view, the others `give_way` in the rest."""
        room = self.size.width - self.styles.scrollbar_size_vertical - self._row_label_column_width
        columns = self.ordered_columns
        if room <= 0 or not columns or not self.is_mounted:
            return
        wanted = dict(zip((c.key for c in columns), self.view_widths()))
        padding = 2 * self.cell_padding * len(columns)
        fixed = sum(wanted[c.key] for c in columns if self.is_identifying(c))
        others = [c for c in columns if not self.is_identifying(c)]
        names = [self.name_of(c) for c in others]
        order = [names.index(n) for n in self.gives_way if n in names]
        order += [i for i in reversed(range(len(others))) if i not in order]
        widths = dict(zip((c.key for c in others), give_way(room - padding - fixed, [wanted[c.key] for c in others],
                                                            order, floors=[self.floor_of(c) for c in others])))
        changed = False
        for column in columns:
            width = wanted[column.key] if self.is_identifying(column) else widths[column.key]
            if column.auto_width or column.width != width:
                column.width, column.auto_width, changed = width, False, True
        if changed:
            total = sum(c.get_render_width(self) for c in columns) + self._row_label_column_width
            self.virtual_size = Size(total, self.virtual_size.height)
            self._clear_caches()
            self.refresh()
        self.show_cut()

    def cut_cells(self, row_index: int) -> list[tuple[str, str]]:
        """(column label, whole value) of each cell of the row that is not drawn whole: narrower than its content,
        or (the table scrolled sideways) not wholly in view."""
        if not 0 <= row_index < self.row_count:
            return []
        left = round(self.scroll_x)
        right = left + self.size.width - self.styles.scrollbar_size_vertical
        x = self._row_label_column_width
        cut = []
        cells = self.get_row_at(row_index)
        for column, cell, width in zip(self.ordered_columns, cells, self.cell_widths(row_index)):
            end = x + column.get_render_width(self)
            if width > column.width or x < left + self._row_label_column_width or end > right:
                cut.append((column.label.plain, plain(cell)))
            x = end
        return cut

    def show_cut(self) -> None:
        if self.cut_line is not None and self.is_mounted:
            self.cut_line.show(self.cut_cells(self.cursor_row) if self.row_count else [])


class CutLine(Static):
    """One line under a FitTable: the highlighted row's cells the table cuts (or scrolls out of view), whole."""

    DEFAULT_CSS = """
    CutLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, table: FitTable, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        table.cut_line = self

    def show(self, cut: list[tuple[str, str]]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for n, (label, value) in enumerate(cut):
            text.append(" · " if n else "")
            text.append(f"{label}: ", style="bold")
            text.append(value)
        self.update(text)

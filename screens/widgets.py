"""Small widgets of the console."""
from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist


class TickList(SelectionList[str]):
    """A SelectionList whose boxes read `[x]` or `[ ]`, so a tick shows without colour (NO_COLOR, SSH)."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        mark = "x" if option.value in self.selected else " "
        segments[0] = Segment("[", segments[0].style)
        segments[1] = Segment(mark, segments[1].style)
        segments[2] = Segment("]", segments[2].style)
        return Strip(segments, strip.cell_length)

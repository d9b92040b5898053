"""The console's side of the one output sanitiser: a Textual line filter that shows control characters.

Every widget's rendered line passes `App.get_line_filters()`, so this one filter covers tables, labels, forms,
notifications and modals alike: a name from a target holding `\\x1b]2;…` or U+202E is shown (`␛]2;…`,
`<U+202E>`) and never reaches the terminal as a control (see `console.shown`).
"""
from __future__ import annotations

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from console.shown import has_controls, visible


class ShowControls(LineFilter):
    """Replace control and bidi characters in rendered text by visible marks, keeping the line's width."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(not seg.control and has_controls(seg.text) for seg in segments):
            return segments
        width = Segment.get_line_length(segments)
        shown = [seg if seg.control else Segment(visible(seg.text, lines=False), seg.style) for seg in segments]
        return list(Segment.adjust_line_length(shown, width))


SHOW_CONTROLS = ShowControls()

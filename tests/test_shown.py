"""The output sanitiser: its fast path for plain ASCII text (bytes.translate) changes nothing it shows."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from console import shown
from console.shown import json_text, visible

# every character the sanitiser neutralises, and ASCII/Latin-1/bidi neighbours that it leaves alone
ALPHABET = st.sampled_from([chr(c) for c in range(0x00, 0xA1)] + ["\u061c", "\u200d", "\u200e", "\u200f", "\u2027",
                                                                    "\u2028", "\u2029", "\u202a", "\u202e", "\u202f",
                                                                    "\u2065", "\u2066", "\u2069", "é", "😀"])


def by_regex(text: str, *, lines: bool = True) -> str:
    """What `visible` gave before its fast path: the regex over every character."""
    return (shown._UNSAFE if lines else shown._UNSAFE_LINES).sub(shown._picture, text)


@given(st.text(ALPHABET, max_size=40), st.booleans())
@example("Bench Person1\n\tEngineer", True)
@example("tab\there", False)
@example("del\x7f", True)
def test_visible_shows_what_the_regex_shows(text: str, lines: bool) -> None:
    assert visible(text, lines=lines) == by_regex(text, lines=lines)


@pytest.mark.parametrize("char", [chr(c) for c in [*range(0x09), *range(0x0B, 0x20), 0x7F]])
def test_every_ascii_control_is_still_made_visible(char: str) -> None:
    assert char not in visible(f"plain {char} text")
    assert char not in visible(f"cell {char}", lines=False)


def test_tabs_and_line_breaks_stay_in_lines_but_not_in_a_cell() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible("a\tb\nc", lines=False) == "a\u2409b\u240ac"


@given(st.recursive(st.text(ALPHABET, max_size=20) | st.integers(-(2**53), 2**53) | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(ALPHABET, max_size=8), inner,
                                                                               max_size=4), max_leaves=12))
@example({"name": "Bench Person1", "title": "Engineer"})
@example({"name": "del\x7f"})
def test_json_text_is_the_same_json_value_with_no_live_control(value: object) -> None:
    data = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    text = json_text(data)
    assert orjson.loads(text) == value
    assert text == shown._UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", data.decode())
    assert shown._UNSAFE.search(text) is None


def test_the_clis_json_output_carries_no_live_control_and_the_same_value(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.output import emit_json, visible_streams

    value = {"name": "evil\x1b]0;title\x07 \u202egnp.exe \x7f\u0085 Zoë", "plain": ["Bench Person1", "R&D"]}
    with visible_streams():
        emit_json(value)
        emit_json({"plain": "Bench Person1"})
    out = capsys.readouterr().out
    first, second = out.split("\n}\n", 1)
    assert orjson.loads(first + "}") == value and orjson.loads(second) == {"plain": "Bench Person1"}
    assert shown._UNSAFE.search(out) is None and out.endswith("}\n")

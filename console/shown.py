"""The one output sanitiser: text shown on a terminal or written for people never carries a live control.

C0 and C1 control characters, DEL, and the Unicode bidi and line-separator controls are made visible instead
of being interpreted (`\\x1b` → `␛`, U+202E → `<U+202E>`), so a name from a target cannot set a pane title,
move the cursor or reverse a line. `spreadsheet_cell` neutralises a CSV cell a spreadsheet would run as a
formula (OWASP "CSV injection"). Operators' own text is refused at entry instead (`has_controls`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import orjson

# C0 (but tab and newline, handled by `newlines`), DEL, C1, ALM, LRM/RLM, LS/PS, bidi embeddings/overrides/isolates
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINES = re.compile(_UNSAFE.pattern[:-1] + r"\t\n]")
# What those match among ASCII characters (the rest of their class is beyond it): an ASCII text without any of these
# has nothing to replace, which `bytes.translate` tells at C speed (the regex tries its class at every character,
# ~100 instructions each: two passes over a sync's --json output of 2,000 operations cost ~0.1 s)
_ASCII_UNSAFE = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])
_ASCII_UNSAFE_LINES = bytes([*range(0x20), 0x7F])
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _picture(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ … ␟ (␛ for ESC)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def _plain_ascii(data: bytes, unsafe: bytes) -> bool:
    """True when `data` is ASCII without any of the bytes `unsafe`."""
    return data.isascii() and len(data.translate(None, unsafe)) == len(data)


def visible(text: object, *, lines: bool = True) -> str:
    """`text` with every control made visible; with `lines=False` tabs and line breaks too (one table cell)."""
    value = "" if text is None else str(text)
    if value.isascii() and _plain_ascii(value.encode("ascii"), _ASCII_UNSAFE if lines else _ASCII_UNSAFE_LINES):
        return value
    return (_UNSAFE if lines else _UNSAFE_LINES).sub(_picture, value)


def has_controls(text: str) -> bool:
    """True when `text` holds a character `visible` would neutralise, line breaks and tabs included."""
    return _UNSAFE_LINES.search(text) is not None


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def json_text(data: bytes) -> str:
    """orjson output with the controls it leaves raw (C1, bidi, line separators) as \\u escapes: the same JSON
    value, safe on a terminal."""
    if _plain_ascii(data, _ASCII_UNSAFE):
        return data.decode("ascii")
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", data.decode())


def json_array(items: Iterable[Any], *, size: int = 2000,
               default: Callable[[Any], Any] | None = None) -> Iterator[str]:
    """`json_text` of the indented JSON array of `items`, `size` items at a time: the same document as made at once,
    never every item (nor the whole text) in memory."""
    it, opened = iter(items), False
    while chunk := list(islice(it, size)):
        text = json_text(orjson.dumps(chunk, option=orjson.OPT_INDENT_2, default=default))
        yield (",\n" if opened else "[\n") + text[2:-2]  # the items of "[\n  {...},\n  {...}\n]"
        opened = True
    yield "\n]" if opened else "[]"

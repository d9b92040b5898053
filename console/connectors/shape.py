"""Shape checks of answers from targets and sources: what is wrong, named, instead of a TypeError later.

A connector states the documented type of the fields it reads; `shape_errors` says which are missing or of
another type (`totalResults is 'lots', not a number`), and the connector raises its error with that text.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.redact import redact

_NAMES = {list: "a list", dict: "an object", int: "a number", str: "a string", bool: "true or false"}


def describe(value: Any) -> str:
    return redact(repr(value), limit=40)


def shape_errors(doc: Any, fields: Mapping[str, type], *, required: tuple[str, ...] = ()) -> str:
    """'' when `doc` is an object whose present `fields` have their types and `required` ones are there; else
    one line naming each fault."""
    if not isinstance(doc, dict):
        return f"the answer is {describe(doc)}, not a JSON object"
    faults = [f"{name} is missing" for name in required if doc.get(name) is None]
    for name, kind in fields.items():
        value = doc.get(name)
        if value is None:
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            faults.append(f"{name} is {describe(value)}, not {_NAMES.get(kind, kind.__name__)}")
    return "; ".join(faults)

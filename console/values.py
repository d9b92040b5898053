"""Operators' text turned into typed values, one way for every front end: booleans, whole numbers, NAME=VALUE pairs."""
from __future__ import annotations

from collections.abc import Iterable

from console.errors import BadInput, ValidationError

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
MAX_INT = 2**63 - 1


def parse_bool(field: str, value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValidationError(field, value, "must be true or false")


def parse_int(field: str, value: str | int, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        try:  # 10.0 from a form or a JSON file is the whole number 10
            as_float = float(text)
        except ValueError:
            as_float = 0.5
        if not as_float.is_integer():
            raise ValidationError(field, text, "must be a whole number") from None
        number = int(as_float)
    if number < minimum:
        raise ValidationError(field, str(value), "must not be negative" if minimum == 0 else f"must be at least {minimum}")
    if number > maximum:
        raise ValidationError(field, str(value), f"must be at most {maximum}")
    return number


def parse_float(field: str, value: str | float) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValidationError(field, str(value), "must be a number") from None


def parse_pairs(items: Iterable[str], what: str = "setting", form: str = "NAME=VALUE", example: str = "") -> dict[str, str]:
    """`["a=1", "b = two"]` → `{"a": "1", "b": "two"}`; an item without `=` or without a name is refused."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{what} {item!r} is not {form}", hint=f"write it as {form}" + (f", e.g. {example}" if example else ""))
        out[key.strip()] = value.strip()
    return out

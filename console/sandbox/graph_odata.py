"""OData query options of the Graph sandbox: `$filter` parsing and evaluation, `$select`, `$top`, `$skiptoken`.

Covers the subset Microsoft Graph accepts on directory objects: `eq`, `ne`, `in`, `startswith`, `endswith`,
`and`, `or`, `not`, parentheses; `ne`/`not`/`endswith` only as advanced queries (ConsistencyLevel + $count).
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.sandbox.graph_errors import GraphFault

DEFAULT_PAGE = 100
MAX_PAGE = 999
ADVANCED_OPERATORS = ("ne", "not", "endsWith")

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w./]*))"
)

Predicate = Callable[[dict[str, Any]], bool]


def _bad_filter(resource: str, prop: str = "") -> GraphFault:
    if prop:
        return GraphFault(400, "Request_UnsupportedQuery",
                          f"Unsupported or invalid query filter clause specified for property '{prop}' of resource "
                          f"'{resource}'.")
    return GraphFault(400, "BadRequest", "Invalid filter clause: syntax error in $filter.")


@dataclass
class _Token:
    kind: str
    value: Any


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise GraphFault(400, "BadRequest", f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        pos = match.end()
        if match.group("str") is not None:
            tokens.append(_Token("str", match.group("str")[1:-1].replace("''", "'")))
        elif match.group("num") is not None:
            tokens.append(_Token("num", float(match.group("num"))))
        elif match.group("punct") is not None:
            tokens.append(_Token(match.group("punct"), match.group("punct")))
        else:
            tokens.append(_Token("word", match.group("word")))
    return tokens


class FilterParser:
    """Recursive-descent parser turning a `$filter` string into a predicate over stored objects."""

    def __init__(self, text: str, resource: str, properties: set[str], advanced: bool) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.resource = resource
        self.properties = {p.lower(): p for p in properties}
        self.advanced = advanced

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise _bad_filter(self.resource)
        return predicate

    def _peek(self, offset: int = 0) -> _Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def _take(self, kind: str | None = None) -> _Token:
        token = self._peek()
        if token is None or (kind and token.kind != kind):
            raise _bad_filter(self.resource)
        self.pos += 1
        return token

    def _word_is(self, word: str) -> bool:
        token = self._peek()
        return token is not None and token.kind == "word" and token.value.lower() == word

    def _require_advanced(self, operator: str) -> None:
        if not self.advanced:
            raise GraphFault(400, "Request_UnsupportedQuery",
                             f"Operator '{operator}' is not supported because the 'ConsistencyLevel:eventual' header "
                             "is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information")

    def _or(self) -> Predicate:
        left = self._and()
        while self._word_is("or"):
            self.pos += 1
            right = self._and()
            left = (lambda a, b: lambda obj: a(obj) or b(obj))(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._unary()
        while self._word_is("and"):
            self.pos += 1
            right = self._unary()
            left = (lambda a, b: lambda obj: a(obj) and b(obj))(left, right)
        return left

    def _unary(self) -> Predicate:
        if self._word_is("not"):
            self._require_advanced("not")
            self.pos += 1
            inner = self._unary()
            return lambda obj: not inner(obj)
        if self._peek() is not None and self._peek().kind == "(":  # type: ignore[union-attr]
            self.pos += 1
            inner = self._or()
            self._take(")")
            return inner
        return self._comparison()

    def _property(self) -> str:
        name = self._take("word").value
        if name.lower() not in self.properties:
            raise _bad_filter(self.resource, name)
        return str(self.properties[name.lower()])

    def _literal(self) -> Any:
        token = self._take()
        if token.kind in ("str", "num"):
            return token.value
        if token.kind == "word" and token.value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.value.lower()]
        raise _bad_filter(self.resource)

    def _comparison(self) -> Predicate:
        token = self._peek()
        following = self._peek(1)
        if token and token.kind == "word" and following and following.kind == "(":
            function = token.value.lower()
            if function not in ("startswith", "endswith"):
                raise _bad_filter(self.resource)
            if function == "endswith":
                self._require_advanced("endsWith")
            self.pos += 2
            prop = self._property()
            self._take(",")
            value = self._literal()
            self._take(")")
            if not isinstance(value, str):
                raise _bad_filter(self.resource, prop)
            needle = value.lower()
            if function == "startswith":
                return lambda obj: isinstance(obj.get(prop), str) and obj[prop].lower().startswith(needle)
            return lambda obj: isinstance(obj.get(prop), str) and obj[prop].lower().endswith(needle)
        prop = self._property()
        operator = self._take("word").value.lower()
        if operator == "in":
            self._take("(")
            values = [self._literal()]
            while self._peek() is not None and self._peek().kind == ",":  # type: ignore[union-attr]
                self.pos += 1
                values.append(self._literal())
            self._take(")")
            wanted = {_fold(v) for v in values}
            return lambda obj: _fold(obj.get(prop)) in wanted
        if operator not in ("eq", "ne"):
            raise _bad_filter(self.resource, prop)
        if operator == "ne":
            self._require_advanced("ne")
        value = _fold(self._literal())
        if operator == "eq":
            return lambda obj: _fold(obj.get(prop)) == value
        return lambda obj: _fold(obj.get(prop)) != value


def _fold(value: Any) -> Any:
    """Graph compares directory strings case-insensitively."""
    return value.lower() if isinstance(value, str) else value


def parse_top(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    try:
        top = int(raw)
    except ValueError:
        raise GraphFault(400, "Request_BadRequest", f"Invalid page size specified: '{raw}'. Must be between 1 and "
                         f"{MAX_PAGE} inclusive.") from None
    if not 1 <= top <= MAX_PAGE:
        raise GraphFault(400, "Request_BadRequest", f"Invalid page size specified: '{raw}'. Must be between 1 and "
                         f"{MAX_PAGE} inclusive.")
    return top


def parse_select(raw: str | None, type_name: str, properties: set[str]) -> list[str] | None:
    if not raw:
        return None
    known = {p.lower(): p for p in properties}
    selected: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if not name:
            continue
        if name.lower() not in known:
            raise GraphFault(400, "BadRequest", f"Could not find a property named '{name}' on type "
                             f"'microsoft.graph.{type_name}'.")
        selected.append(known[name.lower()])
    return selected


def encode_skiptoken(after: int) -> str:
    raw = json.dumps({"after": after, "v": 1}).encode()
    return "RFNwdAIAAQAAAD" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    try:
        payload = token.removeprefix("RFNwdAIAAQAAAD")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(data["after"])
    except (ValueError, KeyError, TypeError):
        raise GraphFault(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no "
                         "longer be included in your request.") from None

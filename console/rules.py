"""The rule language of rule groups: `role == "owner" and not (department in ["IT", "Eng"])`.

A small tokenizer and a recursive-descent parser (never eval) compile a rule once into a predicate over people;
a mistake is a BadInput naming the position, with the rule and a caret under it. See docs/rules.md.

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" rule ")" | comparison
    comparison := FIELD OP value
    OP         := == | != | in | not in | startswith | endswith | contains
    value      := "text" | 'text' | [value, …] | true | false
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from console.errors import BadInput
from console.inbound.links import source_names  # the one place that knows how sources are recorded
from console.models import User

OPERATORS = ("==", "!=", "in", "not in", "startswith", "endswith", "contains")
KEYWORDS = {"and", "or", "not", "in", "startswith", "endswith", "contains", "true", "false"}
MAX_LENGTH = 2000
MAX_DEPTH = 50
FIELDS = ("employeeId", "userName", "givenName", "familyName", "displayName", "email", "department", "title",
          "manager", "status", "source")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<op>==|!=)
  | (?P<punct>[()\[\],])
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z_][A-Za-z0-9_.:-]*)
""", re.X)

Predicate = Callable[[User], bool]


@dataclass(frozen=True)
class Token:
    kind: str  # op, punct, string, word, end
    text: str
    pos: int


def _error(expr: str, pos: int, message: str) -> BadInput:
    return BadInput(f"rule: {message} at position {pos + 1}", detail=f"{expr}\n  {' ' * pos}^",
                    hint='e.g. role == "owner" and department in ["IT", "Eng"]; see docs/rules.md')


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            if expr[pos] in "\"'":
                raise _error(expr, pos, "this quote is never closed")
            raise _error(expr, pos, f"unexpected character {expr[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(expr)))
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])



def _any(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda user: any(p(user) for p in parts)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda user: all(p(user) for p in parts)


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = tokenize(expr)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def word(self, *texts: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in texts

    def take(self) -> Token:
        token = self.tok
        self.i += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> BadInput:
        return _error(self.expr, (token or self.tok).pos, message)

    def parse(self) -> Predicate:
        if self.tok.kind == "end":
            raise self.fail("the rule is empty")
        predicate = self.or_()
        if self.tok.kind != "end":
            raise self.fail(f"expected and, or or the end of the rule, found {self.tok.text!r}")
        return predicate

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.word("or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else _any(tuple(parts))

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.word("and"):
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else _all(tuple(parts))

    def not_(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return self._not()
        finally:
            self.depth -= 1

    def _not(self) -> Predicate:
        if self.word("not"):
            self.take()
            inner = self.not_()
            return lambda u: not inner(u)
        if self.tok.text == "(":
            opening = self.take()
            inner = self.or_()
            if self.tok.text != ")":
                raise self.fail("expected ')' to close the '(' at position " f"{opening.pos + 1}")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.tok
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            raise self.fail(f"expected a field name (role, department, source, …), found {token.text or 'the end'!r}"
                            if token.kind != "end" else "expected a field name, found the end of the rule")
        name = self.take().text
        op_token = self.tok
        if op_token.kind == "op" or self.word("in", "startswith", "endswith", "contains"):
            op = self.take().text.lower()
        elif self.word("not") and self.tokens[self.i + 1].text.lower() == "in":
            self.take()
            self.take()
            op = "not in"
        else:
            raise self.fail(f"expected an operator ({', '.join(OPERATORS)}) after {name}, found "
                            f"{op_token.text or 'the end of the rule'!r}")
        value = self.value()
        if op in ("in", "not in") and not isinstance(value, tuple):
            raise self.fail(f"{op} needs a list, e.g. [\"IT\", \"Eng\"]", op_token)
        if op not in ("in", "not in") and isinstance(value, tuple):
            raise self.fail(f"{op} compares with one value; use in for a list", op_token)
        return _compare(name, op, value)

    def value(self) -> str | tuple[str, ...]:
        token = self.tok
        if token.kind == "string":
            self.take()
            return _unquote(token.text)
        if self.word("true", "false"):
            return self.take().text.lower()
        if token.text == "[":
            self.take()
            items: list[str] = []
            while self.tok.text != "]":
                item = self.value()
                if isinstance(item, tuple):
                    raise self.fail("a list cannot hold a list")
                items.append(item)
                if self.tok.text == ",":
                    self.take()
                elif self.tok.text != "]":
                    raise self.fail("expected ',' or ']' in the list")
            self.take()
            return tuple(items)
        if token.kind == "word":
            raise self.fail(f"a value is written in quotes: \"{token.text}\"")
        raise self.fail(f"expected a value in quotes, found {token.text or 'the end of the rule'!r}")


def field_values(user: User, name: str) -> list[str]:
    """The values of a person's field or attribute (`source` gives every source name, e.g. the application)."""
    key = name[len("attributes."):] if name.startswith("attributes.") else name
    if key == "source":
        return source_names(user)
    if key == "email":
        return list(user.emails) or [""]
    if key in FIELDS:
        return [str(getattr(user, key) or "")]
    value = user.attributes.get(key)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or [""]
    if isinstance(value, dict):
        return [str(k) for k in value] or [""]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return ["" if value is None else str(value)]


def _compare(name: str, op: str, value: str | tuple[str, ...]) -> Predicate:
    """Text comparisons ignore case; a field with several values (source) matches when any value does."""
    if isinstance(value, tuple):
        wanted = frozenset(v.casefold() for v in value)
        if op == "in":
            return lambda u: any(v.casefold() in wanted for v in field_values(u, name))
        return lambda u: not any(v.casefold() in wanted for v in field_values(u, name))
    text = value.casefold()
    tests: dict[str, Callable[[str], bool]] = {
        "==": lambda v: v == text, "startswith": lambda v: v.startswith(text),
        "endswith": lambda v: v.endswith(text), "contains": lambda v: text in v,
    }
    if op == "!=":
        return lambda u: not any(v.casefold() == text for v in field_values(u, name))
    test = tests[op]
    return lambda u: any(test(v.casefold()) for v in field_values(u, name))


@dataclass(frozen=True)
class Rule:
    """A compiled rule: `rule.matches(user)`; compile once, evaluate per person."""

    text: str
    matches: Predicate


def compile_rule(expr: str) -> Rule:
    """Parse `expr` (BadInput with the position of the first mistake) into a Rule."""
    text = (expr or "").strip()
    if len(text) > MAX_LENGTH:
        raise BadInput(f"rule: longer than {MAX_LENGTH} characters", hint="split it into several groups")
    return Rule(text, _Parser(text).parse())

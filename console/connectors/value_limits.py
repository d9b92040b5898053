"""Per-target value limits: what a target would refuse, declared by its connector and checked before sending.

Each connector builds its `ValueLimits` once (from its settings: Atlassian's verified domains) and the plan
blocks, with the reason, an operation whose attributes break one — instead of sending it and failing. The
limits are pure and name where they come from (AD schema `rangeUpper`, Graph property limits, Atlassian's
OpenAPI prose), so that other checks (the Bitbucket import's mapping) can reuse them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Limit", "ValueLimits", "max_length", "on_domains", "required"]


def _values(value: Any) -> list[str]:
    """A value as a list of strings (multi-valued attributes hold lists)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


@dataclass(frozen=True)
class Limit:
    """One rule on one attribute: `rule` says it for an operator, `source` says who imposes it."""

    attribute: str
    rule: str
    source: str
    accepts: Callable[[list[str]], bool]

    def problem(self, attrs: Mapping[str, Any]) -> str | None:
        """Why `attrs` break this limit, or None. An attribute the target does not receive is not checked."""
        if self.attribute not in attrs:
            return None
        values = _values(attrs[self.attribute])
        if self.accepts(values):
            return None
        shown = ", ".join(v if len(v) <= 40 else v[:37] + "…" for v in values) or "(none)"
        return f"{self.attribute} {self.rule} ({self.source}); it is {shown}"


def required(attribute: str, source: str) -> Limit:
    return Limit(attribute, "is required", source, lambda values: bool(values))


def max_length(attribute: str, limit: int, source: str) -> Limit:
    return Limit(attribute, f"holds at most {limit} characters", source,
                 lambda values: all(len(v) <= limit for v in values))


def on_domains(attribute: str, domains: Iterable[str], source: str) -> Limit:
    """Every address on one of `domains` (case-blind)."""
    allowed = frozenset(d.strip().lstrip("@").casefold() for d in domains if d and d.strip())
    return Limit(attribute, f"must be on a verified domain ({', '.join(sorted(allowed))})", source,
                 lambda values: all(v.rpartition("@")[2].casefold() in allowed for v in values))


@dataclass(frozen=True)
class ValueLimits:
    """The limits of one target; `problems` lists every one that attributes break."""

    target: str
    limits: tuple[Limit, ...] = ()

    def problems(self, attrs: Mapping[str, Any]) -> list[str]:
        return [p for p in (limit.problem(attrs) for limit in self.limits) if p]

    def reason(self, attrs: Mapping[str, Any]) -> str:
        """One line for a blocked operation: empty when nothing would be refused."""
        problems = self.problems(attrs)
        return f"{self.target} would refuse it: " + "; ".join(problems) if problems else ""

"""Rule groups: their members recomputed from the rule over every person (compile once, evaluate per person)."""
from __future__ import annotations

from dataclasses import dataclass, field

from console.errors import BadInput
from console.models import Group, User
from console.rules import compile_rule
from console.store import Store


@dataclass
class RuleChange:
    """How one rule group's members changed in a recomputation."""

    group: str
    rule: str
    added: list[User] = field(default_factory=list)
    removed: list[User] = field(default_factory=list)


def matching(store: Store, rule: str) -> list[User]:
    """Every person the rule matches, ordered by label."""
    compiled = compile_rule(rule)
    return sorted((u for u in store.users if compiled.matches(u)), key=lambda u: u.label().casefold())


def recompute(store: Store, groups: list[Group] | None = None) -> list[RuleChange]:
    """Set each rule group's members to the people its rule matches (in memory; the caller records and saves)."""
    changes: list[RuleChange] = []
    people = list(store.users)
    for group in groups if groups is not None else [g for g in store.groups if g.rule]:
        try:
            rule = compile_rule(group.rule)
        except BadInput:
            continue  # rules are checked when saved; one edited by hand in the state is left as it is
        members = [u for u in people if rule.matches(u)]
        before = set(group.members)
        after = {u.id for u in members}
        if before == after:
            continue
        change = RuleChange(group.name, group.rule, added=[u for u in members if u.id not in before],
                            removed=[u for u in (store.users.get(m) for m in group.members) if u and u.id not in after])
        group.members = [u.id for u in sorted(members, key=lambda u: u.label().casefold())]
        store.groups.put(group)
        changes.append(change)
    return changes

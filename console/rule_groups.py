"""Rule groups: their members recomputed from the rule over every person (compile once, evaluate per person), or
followed for the few people a write changed (`follow`: a rule reads only the person's own fields)."""
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


def follow(store: Store, changed: list[User], gone: list[User]) -> list[RuleChange]:
    """Each rule group's members after the people `changed` were changed or added and `gone` removed: only their
    membership is decided again (a rule reads only the person's own fields), without reading the other people; the
    members stay ordered by label (each changed member is placed again by a binary search, reading a few labels).
    A group whose members cannot be placed that way (one of them is not in the state) is recomputed whole."""
    changes: list[RuleChange] = []
    for group in [g for g in store.groups if g.rule]:
        try:
            rule = compile_rule(group.rule)
        except BadInput:
            continue  # (as in `recompute`)
        members = list(group.members)
        added: list[User] = []
        removed: list[User] = []
        for user in gone:
            if user.id in members:
                members.remove(user.id)
                removed.append(user)
        placed = True
        for user in changed:
            was, now = user.id in members, rule.matches(user)
            if was:
                members.remove(user.id)
            if now:
                at = _place(store, members, user.label().casefold())
                if at is None:
                    placed = False
                    break
                members.insert(at, user.id)
            if now and not was:
                added.append(user)
            elif was and not now:
                removed.append(user)
        if not placed:
            changes += recompute(store, [group])
            continue
        if members != group.members:
            group.members = members
            store.groups.put(group)
        if added or removed:
            changes.append(RuleChange(group.name, group.rule, added=added, removed=removed))
    return changes


def _place(store: Store, members: list[str], label: str) -> int | None:
    """Where a person labelled `label` goes in `members` (ordered by label); None when a member is not found."""
    low, high = 0, len(members)
    while low < high:
        middle = (low + high) // 2
        other = store.users.peek(members[middle])
        if other is None:
            return None
        if other.label().casefold() < label:
            low = middle + 1
        else:
            high = middle
    return low

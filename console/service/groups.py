"""Local groups and their members: manual groups, and rule groups whose members follow a rule."""
from __future__ import annotations

from dataclasses import dataclass, field

from console.errors import BadInput
from console.models import Event, Group, User
from console.rule_groups import RuleChange, follow, matching, recompute
from console.rules import compile_rule
from console.service.base import ServiceBase, writes
from console.validation import validate_group


@dataclass
class RulePreview:
    """Who a rule matches: how many, and the first `limit` of them. For an existing group (`preview_group_rule`),
    also who would join and leave, and `outcome`: what saving it does to the members, in one sentence."""

    rule: str
    count: int
    people: list[User] = field(default_factory=list)
    joining: int = 0
    leaving: int = 0
    outcome: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "count": self.count, "people": [u.label() for u in self.people],
                "joining": self.joining, "leaving": self.leaving, "outcome": self.outcome}


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


class GroupsMixin(ServiceBase):
    def groups(self) -> list[Group]:
        return sorted(self.store.groups, key=lambda g: g.name.casefold())

    def group_by_id(self, group_id: str) -> Group | None:
        return self.store.groups.get(group_id)

    def members(self, group: Group) -> list[User]:
        return [u for u in (self.store.users.get(m) for m in group.members) if u is not None]

    def policies_using(self, group: str) -> list[str]:
        """Names of the policies that bind this group."""
        return [p.name for p in self.store.policies if group in p.groups]

    def preview_rule(self, rule: str, limit: int = 20) -> RulePreview:
        """Who `rule` matches now (BadInput with the position of a mistake); nothing is written."""
        people = matching(self.store, rule)
        return RulePreview(compile_rule(rule).text, len(people), people[:limit])

    def preview_group_rule(self, name: str, rule: str | None, limit: int = 20) -> RulePreview:
        """What `set_group_rule(name, rule)` would do, before it is saved: who the rule matches, who joins and who
        leaves; clearing the rule (None or blank) keeps the members, as manual members. Nothing is written."""
        group = self.group(name)
        members = self.members(group)
        if rule is None or not rule.strip():
            if not group.rule:
                return RulePreview("", len(members), members[:limit], outcome=f"{group.name} has no rule")
            return RulePreview("", len(members), members[:limit], outcome=(
                f"clearing the rule makes {group.name} a plain group: its {_people(len(members))} stay, as members "
                "added by hand (nobody joins or leaves by the rule any more)"))
        people = matching(self.store, rule)
        now = set(group.members)
        after = {u.id for u in people}
        joining, leaving = len(after - now), len(now - after)
        if compile_rule(rule).text == group.rule:
            outcome = "the rule in force"
        elif not group.rule:
            outcome = (f"{group.name} becomes a rule group: {_people(joining)} join, {_people(leaving)} of its "
                       "members leave")
        else:
            outcome = f"{_people(joining)} join, {_people(leaving)} leave"
        return RulePreview(compile_rule(rule).text, len(people), people[:limit], joining, leaving, outcome)

    @writes
    def create_group(self, name: str, description: str = "", rule: str | None = None) -> Group:
        """A manual group, or with `rule` a rule group whose members are the people the rule matches."""
        self._writable()
        text = compile_rule(rule).text if rule is not None else ""
        group = validate_group(Group(name=name, description=description, rule=text))
        self.store.groups.add(group)
        self._record("group_create_local", message=group.name + (f" (rule {text})" if text else ""),
                     changes={"rule": [None, text]} if text else None)
        if text:
            self._record_rule_changes(recompute(self.store, [group]))
        return group

    @writes
    def set_group_rule(self, name: str, rule: str | None) -> Group:
        """Give a group a rule (its members then follow it), change it, or clear it with None (the members it has
        now stay, as manual members)."""
        self._writable()
        group = self.group(name)
        text = compile_rule(rule).text if rule is not None and rule.strip() else ""
        if text == group.rule:
            return group
        before = group.rule
        group.rule = text
        self.store.groups.put(group)
        self._record("group_rule", message=group.name, changes={"rule": [before or None, text or None]})
        if text:
            self._record_rule_changes(recompute(self.store, [group]))
        return group

    @writes
    def edit_group(self, name: str, *, new_name: str | None = None, rule: str | None = None,
                   clear_rule: bool = False) -> Group:
        """The group form's save: rename and/or give, change or clear (`clear_rule`) the rule. The rule is checked
        before anything is written, so a refused rule leaves the name as it was too."""
        self._writable()
        group = self.group(name)
        if rule is not None and rule.strip():
            compile_rule(rule)  # BadInput with the position of the mistake, before any change
        if new_name is not None and new_name.strip() != group.name:
            group = self.rename_group(group.name, new_name)
        if clear_rule or (rule is not None and rule.strip()):
            group = self.set_group_rule(group.name, None if clear_rule else rule)
        return group

    @writes
    def recompute_rule_groups(self) -> list[RuleChange]:
        """Bring every rule group's members up to date with its rule (after people change or an import)."""
        self._writable()
        changes = recompute(self.store)
        self._record_rule_changes(changes)
        return changes

    def _record_rule_changes(self, changes: list[RuleChange]) -> None:
        events: list[Event] = []
        for change in changes:
            events += [self._event("member_add_local", person=u, message=f"{change.group} (rule {change.rule})")
                       for u in change.added]
            events += [self._event("member_remove_local", person=u, message=f"{change.group} (rule {change.rule})")
                       for u in change.removed]
        if events:
            self._commit(events)

    def _after_people_change(self, changed: list[User] | None = None, gone: list[User] | None = None) -> None:
        """Called by the people writes and imports: rule groups follow the people — every person (an import), or
        only those a write `changed` (added or edited) and removed (`gone`)."""
        if any(g.rule for g in self.store.groups):
            if changed is None and gone is None:
                self._record_rule_changes(recompute(self.store))
            else:
                self._record_rule_changes(follow(self.store, changed or [], gone or []))

    @writes
    def rename_group(self, name: str, new_name: str) -> Group:
        self._writable()
        group = Group.from_doc(self.group(name).to_doc())  # a refused name leaves the stored group as it was
        old = group.name
        group.name = new_name
        validate_group(group)
        self.store.groups.put(group)
        for policy in self.store.policies:
            if old in policy.groups:
                policy.groups = [new_name if g == old else g for g in policy.groups]
                self.store.policies.put(policy)
        self._record("group_rename_local", changes={"name": [old, new_name]})
        return group

    @writes
    def delete_group(self, name: str, *, confirm: bool = False) -> Group:
        self._writable()
        group = self.group(name)
        if not confirm:
            raise BadInput(f"deleting group {group.name} needs confirmation", hint="pass --yes (or confirm in the console)")
        using = self.policies_using(group.name)
        if using:
            raise BadInput(f"group {group.name} is used by policies {', '.join(using)}",
                           hint="remove it from those policies first")
        self.store.groups.remove(group.id)
        self._record("group_delete_local", message=group.name)
        return group

    @writes
    def change_members(self, name: str, identifiers: list[str], *, add: bool) -> Group:
        self._writable()
        group = self.group(name)
        if group.rule:
            raise BadInput(f"{group.name} is a rule group: its members follow the rule {group.rule}",
                           hint=f"change the rule (idconsole groups set-rule {group.name} --rule EXPR) or clear it "
                                "to manage members by hand")
        people = [self.user(i) for i in identifiers]  # all known, or nothing changes
        members = list(group.members)
        for person in people:
            if add and person.id not in members:
                members.append(person.id)
            elif not add and person.id in members:
                members.remove(person.id)
        if members != group.members:
            group.members = members
            self.store.groups.put(group)
            self._commit([self._event("member_add_local" if add else "member_remove_local", person=person,
                                      message=group.name) for person in people])
        return group

"""Local groups and their members."""
from __future__ import annotations

from console.errors import BadInput
from console.models import Group, User
from console.service.base import ServiceBase, writes
from console.validation import validate_group


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

    @writes
    def create_group(self, name: str, description: str = "") -> Group:
        self._writable()
        group = validate_group(Group(name=name, description=description))
        self.store.groups.add(group)
        self._record("group_create_local", message=group.name)
        return group

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

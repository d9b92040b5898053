"""Who must have an account where: policies × active people (and groups) → the desired state per app."""
from __future__ import annotations

from dataclasses import dataclass, field

from console.models import Application, Group, Policy
from console.store import Store


@dataclass(slots=True, eq=False)  # shared by the people granted the same way: compared (and hashed) by identity
class Entitlement:
    """A right to an account in one application, and why: its login method, the policies and groups that grant it.
    People granted the same way share one (`desired_for`): a plan covers 100k people with a few of them."""

    login_method: str
    policies: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # rule group name -> its rule

    def reason(self) -> str:
        groups = [f"{g} (rule {self.rules[g]})" if g in self.rules else g for g in self.groups]
        return f"member of {', '.join(groups)} (policy {', '.join(self.policies)})"

    def granted(self, policy: Policy, group: Group) -> Entitlement:
        """This entitlement with `policy` granting it through `group` too: itself when that changes nothing, else a
        new one (an entitlement may be shared: never changed in place)."""
        sso = policy.login_method == "sso"
        if (policy.name in self.policies and group.name in self.groups
                and (not sso or self.login_method == "sso")):
            return self
        ent = Entitlement("sso" if sso else self.login_method, list(self.policies), list(self.groups), dict(self.rules))
        if policy.name not in ent.policies:
            ent.policies.append(policy.name)
        if group.name not in ent.groups:
            ent.groups.append(group.name)
            if group.rule:
                ent.rules[group.name] = group.rule
        return ent


@dataclass
class DesiredApp:
    app: Application
    accounts: dict[str, Entitlement] = field(default_factory=dict)  # user id -> entitlement (shared by many)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> member user ids in scope
    policies: list[Policy] = field(default_factory=list)


def desired_for(store: Store, app: Application) -> DesiredApp:
    """Enabled policies of `app` → entitled active people and the groups to push with their members.

    People granted the same way share one `Entitlement`: a group's members entitled for the first time are added
    all at once (C speed); the others get the entitlement they had with this policy and group added, made once per
    entitlement they had (`granted`), so that those who had the same still share one."""
    desired = DesiredApp(app=app)
    policies = sorted((p for p in store.policies if p.app == app.name and p.enabled), key=lambda p: p.name.casefold())
    desired.policies = policies
    active = store.users.active_ids()  # without reading anyone from a partial store
    accounts = desired.accounts
    for policy in policies:
        for group_name in policy.groups:
            group = store.groups.by_name(group_name)
            if group is None:
                continue
            in_scope = [member_id for member_id in group.members if member_id in active]
            granted = Entitlement(policy.login_method, [policy.name], [group.name],
                                  {group.name: group.rule} if group.rule else {})
            # id of an entitlement some had -> (it, it with this grant too): kept alive, so that no id is reused
            again: dict[int, tuple[Entitlement, Entitlement]] = {}
            for member_id in [m for m in in_scope if m in accounts]:  # in another group (or twice in this one)
                had = accounts[member_id]
                pair = again.get(id(had))
                if pair is None:
                    pair = again[id(had)] = (had, had.granted(policy, group))
                accounts[member_id] = pair[1]
            accounts.update(dict.fromkeys([m for m in in_scope if m not in accounts], granted))
            members = desired.groups.setdefault(group.name, [])
            if members:
                known = set(members)
                members.extend(m for m in in_scope if m not in known)
            else:
                members.extend(in_scope)
    return desired


def why_not(store: Store, app: Application, user_id: str) -> str:
    """Why a person linked to `app` is no longer entitled to an account there."""
    user = store.users.get(user_id)
    if user is None:
        return "was deleted from the local state"
    if not user.active:
        return "is a leaver"
    if not any(p.app == app.name and p.enabled for p in store.policies):
        return f"no enabled policy binds {app.name} any more"
    return f"is in no group of an enabled policy for {app.name}"

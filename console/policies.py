"""Who must have an account where: policies × active people (and groups) → the desired state per app."""
from __future__ import annotations

from dataclasses import dataclass, field

from console.models import Application, Policy, User
from console.store import Store, UserRepo


@dataclass(slots=True)  # one per person and application a plan covers: no __dict__ each
class Entitlement:
    """One person's right to an account in one application, and why. The person is read when first asked for
    (`user`): a plan skips most people without it (see `console.sync.plan`)."""

    user_id: str
    login_method: str
    policies: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    rules: dict[str, str] = field(default_factory=dict)  # rule group name -> its rule
    users: UserRepo | None = field(default=None, repr=False, compare=False)

    @property
    def user(self) -> User:
        user = self.users.get(self.user_id) if self.users is not None else None
        if user is None:
            raise LookupError(f"person {self.user_id} is not in the state")
        return user

    def reason(self) -> str:
        groups = [f"{g} (rule {self.rules[g]})" if g in self.rules else g for g in self.groups]
        return f"member of {', '.join(groups)} (policy {', '.join(self.policies)})"


@dataclass
class DesiredApp:
    app: Application
    accounts: dict[str, Entitlement] = field(default_factory=dict)  # user id -> entitlement
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> member user ids in scope
    policies: list[Policy] = field(default_factory=list)


def desired_for(store: Store, app: Application) -> DesiredApp:
    """Enabled policies of `app` → entitled active people and the groups to push with their members."""
    desired = DesiredApp(app=app)
    policies = sorted((p for p in store.policies if p.app == app.name and p.enabled), key=lambda p: p.name.casefold())
    desired.policies = policies
    users = store.users
    active = users.active_ids()
    accounts = desired.accounts
    for policy in policies:
        sso = policy.login_method == "sso"
        for group_name in policy.groups:
            group = store.groups.by_name(group_name)
            if group is None:
                continue
            in_scope: list[str] = []
            for member_id in group.members:
                if member_id not in active:  # without reading the person from a partial store
                    continue
                in_scope.append(member_id)
                ent = accounts.get(member_id)
                if ent is None:
                    ent = accounts[member_id] = Entitlement(member_id, policy.login_method, [policy.name],
                                                            [group.name], users=users)
                    if group.rule:
                        ent.rules[group.name] = group.rule
                    continue
                if sso:
                    ent.login_method = "sso"  # sso wins when two policies disagree
                if policy.name not in ent.policies:
                    ent.policies.append(policy.name)
                if group.name not in ent.groups:
                    ent.groups.append(group.name)
                    if group.rule:
                        ent.rules[group.name] = group.rule
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

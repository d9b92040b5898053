"""Policies: an application bound to groups with a login method; who is in scope."""
from __future__ import annotations

from typing import Any

from console import connectors
from console.errors import BadInput
from console.models import Policy, User
from console.service.base import ServiceBase, writes
from console.validation import validate_policy


class PoliciesMixin(ServiceBase):
    def policies(self, app: str | None = None) -> list[Policy]:
        found = (p for p in self.store.policies if app is None or p.app == app)
        return sorted(found, key=lambda p: p.name.casefold())

    def _policy_target(self, app: str) -> str:
        application = self.app(app)
        if not connectors.is_target(application.kind):
            raise BadInput(f"{application.name} is a source ({application.kind}), not a target",
                           hint=f"bind a policy to an application of kind {', '.join(connectors.target_kinds())}")
        return application.name

    @writes
    def create_policy(self, name: str, app: str, groups: list[str], login_method: str = "sso",
                      enabled: bool = True) -> Policy:
        self._writable()
        target = self._policy_target(app)
        names = [self.group(g).name for g in groups]
        policy = validate_policy(Policy(name=name, app=target, groups=names, login_method=login_method, enabled=enabled))
        self.store.policies.add(policy)
        self._record("policy_create", app=target, message=policy.name,
                     changes={"app": [None, target], "groups": [None, names], "login_method": [None, login_method]})
        return policy

    @writes
    def edit_policy(self, name: str, *, new_name: str | None = None, app: str | None = None,
                    groups: list[str] | None = None, login_method: str | None = None) -> Policy:
        """Change a policy with the same checks as creating one; the next sync moves the accounts."""
        self._writable()
        current = self.policy(name)
        policy = Policy.from_doc(current.to_doc())  # a refused change leaves the stored policy as it was
        if new_name is not None:
            policy.name = new_name
        if app is not None:
            policy.app = self._policy_target(app)
        if groups is not None:
            policy.groups = [self.group(g).name for g in groups]
        if login_method is not None:
            policy.login_method = login_method
        validate_policy(policy)
        before, after = current.to_doc(), policy.to_doc()
        changes: dict[str, Any] = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
        if changes:
            self.store.policies.put(policy)
            self._record("policy_update", app=policy.app, message=policy.name, changes=changes)
        return policy

    @writes
    def set_policy_enabled(self, name: str, enabled: bool) -> Policy:
        self._writable()
        policy = self.policy(name)
        if policy.enabled != enabled:
            policy.enabled = enabled
            self.store.policies.put(policy)
            self._record("policy_enable" if enabled else "policy_disable", app=policy.app, message=policy.name)
        return policy

    @writes
    def delete_policy(self, name: str, *, confirm: bool = False) -> Policy:
        self._writable()
        policy = self.policy(name)
        if not confirm:
            raise BadInput(f"deleting policy {policy.name} needs confirmation", hint="pass --yes (or confirm in the console)")
        self.store.policies.remove(policy.id)
        self._record("policy_delete", app=policy.app, message=policy.name)
        return policy

    def in_scope(self, policy: Policy) -> list[User]:
        """Active people in any group of the policy: those who should have an account."""
        ids: dict[str, None] = {}
        for name in policy.groups:
            group = self.store.groups.by_name(name)
            for member in group.members if group else []:
                ids[member] = None
        return [u for u in (self.store.users.get(i) for i in ids) if u is not None and u.active]

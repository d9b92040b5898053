"""Provisioning: plan what the targets should hold, apply it under the deletion rules, the deletion queue, and the
standing confirmations that let unattended runs deprovision within a limit."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.errors import BadInput
from console.service.base import ServiceBase, writes
from console.sync.confirm import (
    Confirmation,
    StandingConfirmation,
    deprovision_count,
    put_standing,
    remove_standing,
    standing_confirmations,
)
if TYPE_CHECKING:  # the engine (asyncio, the connectors) is loaded by the first plan, not by every command
    import asyncio

    from console.sync.apply import ApplyResult, Progress
    from console.sync.plan import Operation, Plan
    from console.sync.trace import ProvisionTrace

__all__ = ["Confirmation", "ProvisioningMixin", "StandingConfirmation"]


class ProvisioningMixin(ServiceBase):
    async def plan(self, app: str | None = None, *, reconcile: bool = False) -> Plan:
        from console.sync.engine import make_plan

        return await make_plan(self.store, app, reconcile_remote=reconcile)

    async def apply(self, plan: Plan, confirmation: Confirmation | None = None, *, dry_run: bool = False,
                    on_progress: Callable[[Progress], None] | None = None,
                    cancel: asyncio.Event | None = None) -> ApplyResult:
        """Apply a plan; its deprovisions need `confirmation` (checked by the engine, given by this operator)."""
        from console.sync.engine import apply_plan

        if not dry_run:
            self._writable()
        confirmation = dataclasses.replace(confirmation or Confirmation(), by=self.operator)
        return await apply_plan(self.store, plan, confirmation, operator=self.operator, dry_run=dry_run,
                                on_progress=on_progress, cancel=cancel)

    async def provision_person(self, identifier: str, app: str | None = None, confirmation: Confirmation | None = None,
                               *, dry_run: bool = False) -> ProvisionTrace:
        """Provision one person now (every application bound to them, or `app`): the plan filtered to that person,
        applied under the usual confirmation rules, with a trace of each step — scope, match, action, result."""
        from console.sync.trace import STEPS, ProvisionTrace, explain, for_person, results

        user = self.user(identifier)
        planned = for_person(await self.plan(app), user.id)
        trace = ProvisionTrace(user.label(), user.id, plan=planned)
        steps = explain(self.store, planned, user)
        if any(not op.blocked for op in planned.operations):
            trace.result = await self.apply(planned, confirmation, dry_run=dry_run)
            steps += results(self.store, planned, trace.result, user)
        apps = [a.app for a in planned.apps]
        trace.steps = sorted(steps, key=lambda s: (apps.index(s.app) if s.app in apps else len(apps), STEPS.index(s.step)))
        return trace

    @staticmethod
    def deprovision_count(plan: Plan) -> int:
        """How many accounts the plan deprovisions, all applications together (what a confirmation counts)."""
        return deprovision_count(plan)

    def pending_deprovisions(self, plan: Plan) -> list[Operation]:
        """The deletion queue: deprovisions the plan would apply, for one-by-one confirmation."""
        return [op for app_plan in plan.apps for op in app_plan.deprovisions]

    # ---- standing confirmations (unattended runs) --------------------------------------------
    def unattended_deletes(self) -> list[StandingConfirmation]:
        """Who allowed unattended runs to deprovision, when, and up to how many accounts per run, by application."""
        return sorted(standing_confirmations(self.store).values(), key=lambda s: s.app)

    @writes
    def allow_unattended_deletes(self, app: str, limit: int) -> StandingConfirmation:
        """Let unattended runs deprovision up to `limit` accounts of `app` per run (never above its threshold)."""
        self._writable()
        target = self.app(app)
        if limit < 1:
            raise BadInput(f"limit: {limit} must be at least 1", hint=f"to allow none, idconsole deletions revoke {app}")
        if limit > target.threshold_count:
            raise BadInput(f"limit: {limit} is above {target.name}'s deletion threshold ({target.threshold_count})",
                           hint="unattended runs never deprovision above the threshold; above it an operator confirms")
        before = standing_confirmations(self.store).get(target.name)
        with self.lock:
            standing = put_standing(self.store, target.name, limit, self.operator)
            self._record("deletions_allow", app=target.name, message=f"unattended runs may deprovision up to {limit}",
                         changes={"unattended_deletes": [before.limit if before else None, limit]})
        return standing

    @writes
    def revoke_unattended_deletes(self, app: str) -> StandingConfirmation:
        self._writable()
        before = standing_confirmations(self.store).get(app)
        if before is None:
            raise BadInput(f"{app} has no standing confirmation", hint="see idconsole deletions list")
        with self.lock:
            remove_standing(self.store, app)
            self._record("deletions_revoke", app=app, message="unattended runs deprovision nothing",
                         changes={"unattended_deletes": [before.limit, None]})
        return before

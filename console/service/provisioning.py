"""Provisioning: plan what the targets should hold, apply it under the deletion rules, the deletion queue."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from console.service.base import ServiceBase
from console.sync.apply import ApplyResult, Progress
from console.sync.engine import apply_plan, deprovision_count, make_plan
from console.sync.plan import AppPlan, Operation, Plan

__all__ = ["AppPlan", "ApplyResult", "Operation", "Plan", "Progress", "ProvisioningMixin"]


class ProvisioningMixin(ServiceBase):
    async def plan(self, app: str | None = None, *, reconcile: bool = False) -> Plan:
        return await make_plan(self.store, app, reconcile_remote=reconcile)

    async def apply(self, plan: Plan, *, dry_run: bool = False, confirmed: bool = False,
                    allow_deletes: int | None = None, on_progress: Callable[[Progress], None] | None = None,
                    cancel: asyncio.Event | None = None) -> ApplyResult:
        if not dry_run:
            self._writable()
        return await apply_plan(self.store, plan, operator=self.operator, dry_run=dry_run, confirmed=confirmed,
                                allow_deletes=allow_deletes, on_progress=on_progress, cancel=cancel)

    @staticmethod
    def deprovision_count(plan: Plan) -> int:
        """How many accounts the plan deprovisions, all applications together (what a confirmation counts)."""
        return deprovision_count(plan)

    def pending_deprovisions(self, plan: Plan) -> list[Operation]:
        """The deletion queue: deprovisions the plan would apply, for one-by-one confirmation."""
        return [op for app_plan in plan.apps for op in app_plan.deprovisions]

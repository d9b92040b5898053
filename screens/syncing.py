"""Applying a plan from a screen: the confirmations (typed count above the threshold), the run in a
worker with live progress, cancel, and initial passwords shown once. Shared by Sync and Deletions."""
from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, ProgressBar

from console.service import ApplyResult, Progress
from console.service import AppPlan, Confirmation, Plan
from screens.base import ConsoleScreen
from screens.messages import ApplyFinished, ApplyProgress, ApplyStarted, PlanReady
from screens.modals import ConfirmModal, PasswordsModal, TypeCountModal

LISTED = 200  # operations named in a confirmation at most


def only(plan: Plan, keys: set[str]) -> Plan:
    """The plan restricted to the operations whose key is in `keys` (thresholds and counts kept)."""
    apps = []
    for app_plan in plan.apps:
        ops = [op for op in app_plan.operations if op.key in keys]
        if ops:
            apps.append(AppPlan(app=app_plan.app, operations=ops, linked=app_plan.linked,
                                threshold_count=app_plan.threshold_count, threshold_percent=app_plan.threshold_percent))
    return Plan(apps=apps)


def summary(plan: Plan) -> str:
    lines = []
    for app_plan in plan.apps:
        counts = ", ".join(f"{n} {k}" for k, n in app_plan.counts().items()) or "nothing to do"
        lines.append(f"{app_plan.app}: {counts}")
    return "\n".join(lines)


class SyncScreen(ConsoleScreen):
    """A screen that plans and applies; subclasses end their body with `yield from self.compose_progress()`."""

    SYNC_SAFE = frozenset({"cancel"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("c", "cancel", "Cancel run", id="sync.cancel", tooltip="Stop the run: operations not started are skipped"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plan: Plan | None = None
        self.plan_version = -1
        self.cancel_event: asyncio.Event | None = None
        self.progress: dict[str, Progress] = {}

    def compose_progress(self) -> ComposeResult:
        """The progress bar (hidden until a run starts) and its line of live counts."""
        bar = ProgressBar(id="progress", show_eta=False)
        bar.display = False
        yield bar
        yield Label("", id="progress-text")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel" and self.cancel_event is None:
            return False
        return super().check_action(action, parameters)

    # ---- planning ---------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="plan", description="planning")
    async def make_plan(self, app: str | None) -> None:
        plan = await self.service.plan(app)
        self.post_message(PlanReady(plan, app or ""))

    @property
    def stale(self) -> bool:
        return self.plan is not None and self.plan_version != self.console.state_version

    # ---- confirming -------------------------------------------------------------------------
    def confirm_apply(self, plan: Plan) -> None:
        """Ask what must be asked, then apply: typed count above a threshold, a confirmation otherwise."""
        if self.console.sync_running or self.cancel_event is not None:
            self.notify("A sync is running already.", severity="warning")
            return
        if not plan.operations:
            self.notify("Nothing to apply: the targets are in the desired state.")
            return
        deprovisions = [op for a in plan.apps for op in a.deprovisions]
        items = [f"{op.action:<10} {op.person or op.group} in {op.app} — {op.reason}" for op in deprovisions[:LISTED]]
        if len(deprovisions) > LISTED:
            items.append(f"… and {len(deprovisions) - LISTED} more")
        exceeded = [a for a in plan.apps if a.threshold_exceeded()]
        if exceeded:  # the operator types the run's total, all applications together
            where = "\n".join(f"{a.app}: {len(a.deprovisions)} deprovisions, threshold {a.threshold_text()}"
                              for a in exceeded)
            self.app.push_screen(TypeCountModal(len(deprovisions), where + "\n\n" + "\n".join(items[:8])),
                                 lambda n: self.start_apply(plan, Confirmation.interactive(n)) if n is not None
                                 else None)
            return
        body = summary(plan)
        if deprovisions:
            apps = sorted({op.app for op in deprovisions})
            title = f"Deprovision {len(deprovisions)} account(s) in {', '.join(apps)}?"
            self.app.push_screen(ConfirmModal(title, body, confirm_label="Apply", items=items),
                                 lambda yes: self.start_apply(plan, Confirmation.interactive()) if yes else None)
        else:
            self.app.push_screen(ConfirmModal(f"Apply {len(plan.operations)} operation(s)?", body,
                                              confirm_label="Apply"),
                                 lambda yes: self.start_apply(plan, Confirmation()) if yes else None)

    # ---- applying ---------------------------------------------------------------------------
    def start_apply(self, plan: Plan, confirmation: Confirmation) -> None:
        """The cancel switch exists from the moment the operator confirms (c works at once)."""
        self.cancel_event = asyncio.Event()
        self.console.sync_running = True
        self.refresh_bindings()
        self.apply(plan, confirmation, self.cancel_event)

    @work(exclusive=True, exit_on_error=False, group="sync", description="applying the plan")
    async def apply(self, plan: Plan, confirmation: Confirmation, cancel: asyncio.Event) -> None:
        self.post_message(ApplyStarted(len(plan.operations)))

        def progressed(progress: Progress) -> None:
            self.post_message(ApplyProgress(dataclasses.replace(progress)))

        try:
            result = await self.service.apply(plan, confirmation, on_progress=progressed, cancel=cancel)
        except BaseException as exc:
            self.post_message(ApplyFinished(None, {}, error=exc if isinstance(exc, Exception) else None))
            raise
        passwords = dict(result.initial_passwords)
        result.initial_passwords.clear()
        self.post_message(ApplyFinished(result, passwords))

    def action_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.query_one("#progress-text", Label).update("cancelling: operations in flight finish, the rest are "
                                                           "recorded as skipped…")

    @on(ApplyStarted)
    def _started(self, message: ApplyStarted) -> None:
        self.console.sync_running = True
        self.progress = {}
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(1, message.total), progress=0)
        bar.display = True
        self.query_one("#progress-text", Label).update(f"applying {message.total} operation(s)… (c cancels)")

    @on(ApplyProgress)
    def _progressed(self, message: ApplyProgress) -> None:
        self.progress[message.progress.app] = message.progress
        done = sum(p.done for p in self.progress.values())
        failed = sum(p.failed for p in self.progress.values())
        skipped = sum(p.skipped for p in self.progress.values())
        retrying = sum(p.retrying for p in self.progress.values())
        self.query_one("#progress", ProgressBar).update(progress=done + failed + skipped)
        text = Text(f"done {done}  ")
        text.append(f"failed {failed}", style="bold" if failed else "")
        text.append(f"  skipped {skipped}  retrying {retrying}  · {message.progress.last}")
        self.query_one("#progress-text", Label).update(text)

    @on(ApplyFinished)
    def _finished(self, message: ApplyFinished) -> None:
        self.console.sync_running = False
        self.cancel_event = None
        passwords = message.take_passwords()
        result = message.result
        if result is None:
            self.query_one("#progress-text", Label).update("nothing was applied (see the message)")
            self.query_one("#progress", ProgressBar).display = False
            return
        self.query_one("#progress-text", Label).update(self.outcome(result))
        self.console.state_changed(self.outcome(result))
        if passwords:
            self.app.push_screen(PasswordsModal(passwords))
        self.applied(result)

    @staticmethod
    def outcome(result: ApplyResult) -> str:
        totals: dict[str, int] = {}
        for counts in result.counts.values():
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
        text = ", ".join(f"{n} {'FAILED' if k == 'failure' else k}" for k, n in sorted(totals.items())) or "nothing"
        stopped = "; stopped: " + "; ".join(f"{a}: {why}" for a, why in result.stopped.items()) if result.stopped else ""
        if result.halted:
            stopped += f"; RUN STOPPED: {result.halted}"
        warned = "".join(f"; WARNING: {note}" for note in result.warnings)
        return f"run {result.run_id[:8]} finished: {text}{stopped}{warned} (report: 7)"

    def applied(self, result: ApplyResult) -> None:
        """After a run: subclasses re-plan to show what is left."""

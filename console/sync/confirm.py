"""Deletion safety: the one typed confirmation a run's deprovisions need, and the standing ones for unattended runs.

Every deprovision needs a confirmation: interactive or `--yes` (`yes`), or a standing confirmation an operator
recorded for an application (unattended runs, only within its threshold and its limit). Above a threshold the
operator also confirms the exact total of the run, all applications together (`count`); a count alone never
confirms. The engine checks this itself, so a front end's mistake deletes nothing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from console.errors import DeletionRefused
from console.models import utcnow
from console.store import Store

if TYPE_CHECKING:  # the plan's module is loaded by planning, not by every command that needs a confirmation
    from console.sync.plan import Plan

STANDING_TABLE = "unattended_deletes"


@dataclass(frozen=True)
class Confirmation:
    """What the operator confirmed: `yes` the deprovisions, `count` their exact total, `standing` an unattended run
    relying on the recorded standing confirmations; `by` is filled in by the service (the operator)."""

    yes: bool = False
    count: int | None = None
    by: str = ""
    standing: bool = False

    @classmethod
    def interactive(cls, count: int | None = None) -> Confirmation:
        """An operator said yes (a modal, a prompt, `--yes`), typing the total when the threshold asks it."""
        return cls(yes=True, count=count)


@dataclass(frozen=True)
class StandingConfirmation:
    """An operator's permission for unattended runs to deprovision up to `limit` accounts of `app` per run."""

    app: str
    limit: int
    by: str
    time: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def standing_confirmations(store: Store) -> dict[str, StandingConfirmation]:
    return {doc["app"]: StandingConfirmation(**{k: doc[k] for k in ("app", "limit", "by", "time")})
            for doc in store.table(STANDING_TABLE).all()}


def put_standing(store: Store, app: str, limit: int, by: str) -> StandingConfirmation:
    standing = StandingConfirmation(app=app, limit=limit, by=by, time=utcnow())
    table = store.table(STANDING_TABLE)
    table.remove(lambda doc: doc.get("app") == app)
    table.insert(standing.to_dict())
    return standing


def remove_standing(store: Store, app: str) -> None:
    store.table(STANDING_TABLE).remove(lambda doc: doc.get("app") == app)


def deprovision_count(plan: Plan) -> int:
    return sum(len(a.deprovisions) for a in plan.apps)


def _per_app(plan: Plan) -> str:
    return ", ".join(f"{a.app}: {len(a.deprovisions)}" for a in plan.apps if a.deprovisions)


def check_deletions(plan: Plan, confirmation: Confirmation, standing: dict[str, StandingConfirmation]) -> str:
    """Refuse the whole run unless `confirmation` covers its deprovisions; returns how they were confirmed."""
    total = deprovision_count(plan)
    if total == 0:
        return ""
    exceeded = [a for a in plan.apps if a.threshold_exceeded()]
    above = "; ".join(f"{a.app} {a.threshold_text()}" for a in exceeded)
    if confirmation.count is not None and confirmation.count != total:
        raise DeletionRefused(
            f"{confirmation.count} deprovision(s) confirmed, but this run deprovisions {total} ({_per_app(plan)})",
            count=total, hint=f"nothing was applied; the count is the run's total, all applications together: "
                              f"check the plan, then confirm with --yes --allow-deletes {total}")
    if confirmation.yes:
        if exceeded and confirmation.count is None:
            raise DeletionRefused(f"this run deprovisions {total} account(s) ({_per_app(plan)}), above the deletion "
                                  f"threshold ({above})", count=total)
        how = f"confirmed by {confirmation.by or 'the operator'}"
        return how + (f", exact total {total} typed" if confirmation.count is not None else "")
    if confirmation.count is not None:
        raise DeletionRefused(f"--allow-deletes {total} confirms a count, not the deprovisions themselves",
                              count=total, hint=f"nothing was applied; add --yes (with --allow-deletes {total}) "
                                                "or confirm in the console")
    if confirmation.standing:
        if exceeded:
            raise DeletionRefused(f"an unattended run never deprovisions above the threshold ({above}); {total} "
                                  "wait for an operator", count=total,
                                  hint=f"run idconsole sync --yes --allow-deletes {total} after checking the plan")
        notes = []
        for app_plan in plan.apps:
            count = len(app_plan.deprovisions)
            if not count:
                continue
            allowed = standing.get(app_plan.app)
            if allowed is None or count > allowed.limit:
                limit = f"its standing confirmation allows {allowed.limit}" if allowed else "it has no standing confirmation"
                raise DeletionRefused(f"{app_plan.app}: {count} deprovision(s) wait for an operator ({limit})",
                                      count=total, hint="review the plan, then idconsole sync --yes (or "
                                                        f"idconsole deletions allow {app_plan.app} --limit N)")
            notes.append(f"{app_plan.app} allowed by {allowed.by} on {allowed.time} up to {allowed.limit}")
        return "unattended: " + "; ".join(notes)
    raise DeletionRefused(f"this run deprovisions {total} account(s) ({_per_app(plan)}) and needs confirmation",
                          count=total, hint="review `idconsole plan`, then pass --yes (or confirm in the console)")

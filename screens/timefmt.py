"""Times as operators read them: relative on the dashboard, UTC minutes in lists."""
from __future__ import annotations

from datetime import datetime

from console import clock

RETIME = 15.0  # seconds between re-renderings of relative times on screen, so "5m ago" stays true


def parse(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def ago(ts: str, now: datetime | None = None) -> str:
    """`just now`, `5m ago`, `3h ago`, `2d ago`, or the date for anything older than a week."""
    when = parse(ts)
    if when is None:
        return "-"
    seconds = ((now or clock.now()) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return when.strftime("%Y-%m-%d")


def until(ts: str) -> str:
    """`in 12m`, `in 3h`, `in 2d`, or `due now` for a time that has come."""
    when = parse(ts)
    if when is None:
        return "-"
    seconds = (when - clock.now()).total_seconds()
    if seconds <= 0:
        return "due now"
    if seconds < 3600:
        return f"in {max(1, int(seconds // 60))}m"
    if seconds < 86400:
        return f"in {int(seconds // 3600)}h"
    return f"in {int(seconds // 86400)}d"


def minute(ts: str) -> str:
    """`2026-11-25 08:35` (UTC) from an ISO timestamp."""
    return ts[:16].replace("T", " ") if ts else "-"

"""Bitbucket's request budget: 1,000 API calls per rolling hour per user or consumer (TARGETS.md §2.5).

Counted in per-minute buckets so that it can be kept in `Application.last_run` between runs, and
checked before a request is sent: a run stops with a clear error instead of meeting HTTP 429.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from console.errors import TransientError

DEFAULT_LIMIT = 1000
WINDOW_SECONDS = 3600


class RequestBudget:
    """Requests sent in the last hour; `require(n)` refuses before the limit would be passed."""

    def __init__(self, limit: int = DEFAULT_LIMIT, buckets: dict[int, int] | None = None, *,
                 clock: Callable[[], float] = time.time, label: str = "Bitbucket") -> None:
        self.limit = limit
        self.clock = clock
        self.label = label
        self.buckets: dict[int, int] = {int(k): int(v) for k, v in (buckets or {}).items()}

    def _prune(self) -> int:
        minute = int(self.clock() // 60)
        oldest = minute - WINDOW_SECONDS // 60 + 1
        for key in [k for k in self.buckets if k < oldest]:
            del self.buckets[key]
        return minute

    def used(self) -> int:
        self._prune()
        return sum(self.buckets.values())

    def remaining(self) -> int:
        return max(0, self.limit - self.used())

    def seconds_until_free(self, needed: int = 1) -> float:
        """How long until `needed` requests fit again (0 when they fit now)."""
        self._prune()
        excess = self.used() + needed - self.limit
        if excess <= 0:
            return 0.0
        for minute in sorted(self.buckets):
            excess -= self.buckets[minute]
            if excess <= 0:
                return max(1.0, (minute + WINDOW_SECONDS // 60) * 60 - self.clock())
        return float(WINDOW_SECONDS)

    def require(self, needed: int, what: str = "") -> None:
        """Raise before sending when `needed` more requests would pass the hourly limit."""
        if needed <= self.remaining():
            return
        wait = self.seconds_until_free(needed) if needed <= self.limit else None
        raise TransientError(
            f"{self.label} request budget reached: {what or 'the next request'} needs {needed} request(s), "
            f"{self.remaining()} of {self.limit} left in this hour",
            retry_after=wait,
            hint=(f"run again in about {math.ceil((wait or 0) / 60)} minute(s)" if wait is not None else
                  "raise the page size (pagelen, up to 100) or the setting request_budget if your plan allows more"),
        )

    def record(self, count: int = 1) -> None:
        minute = self._prune()
        self.buckets[minute] = self.buckets.get(minute, 0) + count

    def to_doc(self) -> dict[str, Any]:
        self._prune()
        return {str(k): v for k, v in sorted(self.buckets.items())}

"""The product's one wall clock: every "now" of the core and the console comes from here.

Tests fix it (`fixed(...)`) instead of freezing time itself: freezing the monotonic clock too would
stall asyncio's and Textual's timers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


_source: Callable[[], datetime] = _system_now


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _source()


def set_source(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the system clock)."""
    global _source
    _source = source or _system_now


@contextmanager
def fixed(at: datetime) -> Iterator[datetime]:
    """Within the block, `now()` is `at` (made UTC if it has no zone)."""
    moment = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    previous = _source
    set_source(lambda: moment)
    try:
        yield moment
    finally:
        set_source(previous)

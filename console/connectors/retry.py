"""The one retry layer of every connector and source: at most `attempts` tries of one call, within deadlines.

A call is tried at most `attempts` times (4 by default, the first included). Between tries it waits what
`Retry-After` asks (up to `max_wait`; a longer wait is not slept through but returned to the caller as a
TransientError with `retry_after`), otherwise exponential backoff with full jitter. Each try is bounded by
the connect and read timeouts, the whole operation (tries and waits) by `operation_deadline`; a connection
test gives up within `TEST_DEADLINE`. Nothing above a connector (the sync engine included) retries again.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from console.connectors.base import Setting
from console.errors import ConfigError, TransientError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]
Clock = Callable[[], float]
TEST_DEADLINE = 30.0

SETTINGS: list[Setting] = [
    Setting("connect_timeout", "Connect timeout (s)", default=10, kind="int", help="seconds to open a connection"),
    Setting("timeout", "Read timeout (s)", default=30, kind="int", help="seconds to wait for an answer"),
    Setting("operation_deadline", "Operation deadline (s)", default=120, kind="int",
            help="seconds one operation may take, retries and waits included"),
    Setting("max_attempts", "Attempts per call", default=4, kind="int",
            help="tries of one call on throttling or a transient failure, the first included"),
]


class DeadlineExceeded(TransientError):
    """The operation's total deadline passed before it was done; its outcome may be unknown."""


def _number(settings: dict[str, Any], name: str, default: float) -> float:
    value: Any = settings.get(name)
    try:
        number = float(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} is not a number of seconds",
                          hint=f"set a number: idconsole apps set NAME {name}={default:g}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be more than 0", hint=f"set a number: idconsole apps set NAME {name}={default:g}")
    return number


@dataclass(frozen=True)
class RetryPolicy:
    """Tries per call, the longest Retry-After slept through, the backoff curve, and the deadlines (seconds)."""

    attempts: int = 4
    max_wait: float = 60.0
    base: float = 0.5  # backoff: uniform(0, min(cap, base * 2 ** (attempt - 1)))
    cap: float = 8.0
    connect: float = 10.0
    read: float = 30.0
    deadline: float = 120.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, read_default: float = 30.0) -> RetryPolicy:
        """The policy an application's settings ask for (see SETTINGS); defaults an operator expects."""
        attempts = int(_number(settings, "max_attempts", 4))
        return cls(attempts=max(1, min(attempts, 10)), max_wait=_number(settings, "max_wait", 60.0),
                   connect=_number(settings, "connect_timeout", 10.0),
                   read=_number(settings, "timeout", read_default),
                   deadline=_number(settings, "operation_deadline", 120.0))

    def for_test(self) -> RetryPolicy:
        """A connection test gives up within TEST_DEADLINE seconds."""
        return replace(self, deadline=min(self.deadline, TEST_DEADLINE), connect=min(self.connect, TEST_DEADLINE),
                       read=min(self.read, TEST_DEADLINE))

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def start(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> Attempts:
        return Attempts(self, clock, sleep)


class Attempts:
    """The budget of one operation: how many tries are spent and how much of the deadline is left."""

    def __init__(self, policy: RetryPolicy, clock: Clock, sleep: Sleep) -> None:
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self.started = clock()
        self.count = 0

    def begin(self) -> int:
        """Count one more try; its number."""
        self.count += 1
        return self.count

    def remaining(self) -> float:
        return self.policy.deadline - (self.clock() - self.started)

    def delay(self, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next try, or None when there is none: attempts spent, the deadline would
        pass, or the target asks for a longer pause than `max_wait`."""
        if self.count >= self.policy.attempts:
            return None
        if retry_after is not None and retry_after > self.policy.max_wait:
            return None
        wait = retry_after if retry_after is not None else self.policy.backoff(self.count)
        return wait if wait < self.remaining() else None

    async def pause(self, seconds: float) -> None:
        await self.sleep(seconds)

    def gave_up(self, error: TransientError) -> TransientError:
        """The error to raise when no try is left, saying how many were made."""
        if self.count <= 1 or isinstance(error, DeadlineExceeded):
            return error
        kind = type(error)
        spent = max(0.0, self.clock() - self.started)
        return kind(f"{error.title} ({self.count} tries in {spent:.0f} s)", retry_after=error.retry_after,
                    detail=error.detail, status=error.status,
                    hint=error.hint or "the target keeps failing: try again later")

    async def bounded(self, call: Awaitable[T], what: str) -> T:
        """Await one try, cut off when the operation's deadline passes."""
        remaining = self.remaining()
        if remaining <= 0:
            _close(call)
            raise self._deadline(what)
        try:
            async with asyncio.timeout(remaining):
                return await call
        except TimeoutError:
            raise self._deadline(what) from None

    def _deadline(self, what: str) -> DeadlineExceeded:
        return DeadlineExceeded(f"{what}: no answer within the {self.policy.deadline:g} s deadline",
                                hint="the change may or may not have been applied; the next run checks "
                                     "(or raise operation_deadline for a slow target)")


def _close(call: Awaitable[Any]) -> None:
    close = getattr(call, "close", None)
    if close is not None:
        close()


async def retrying(call: Callable[[], Awaitable[T]], attempts: Attempts, what: str,
                   retryable: Callable[[TransientError], bool] = lambda _error: True) -> T:
    """Run `call` (which raises console errors) until it succeeds or the budget is spent."""
    while True:
        attempts.begin()
        try:
            return await attempts.bounded(call(), what)
        except DeadlineExceeded:
            raise
        except TransientError as error:
            wait = attempts.delay(error.retry_after) if retryable(error) else None
            if wait is None:
                raise attempts.gave_up(error) from None
            await attempts.pause(wait)

"""The one place where Atlassian SCIM requests are sent: bounded concurrency, retries, dry-run.

Every request goes through `ScimHttp.request`, which bounds concurrency, honours Retry-After on 429/503
(pausing every request of the connector), backs off with jitter on other 5xx and resets, never retries a
POST whose outcome is unknown (it raises `OutcomeUnknown` so the caller looks the object up first), and
turns every failure into a `console.errors` class (atlassian_errors) carrying Atlassian's own message.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.errors import AuthFailed, ConfigError, DryRunBlocked, TransientError, Unreachable

from .atlassian_auth import TokenSource
from .atlassian_errors import OutcomeUnknown, connection_error, decode, status_error


@dataclass
class RetryPolicy:
    """Bounded retries: how many tries, the longest Retry-After worth waiting, and the backoff curve."""

    attempts: int = 5  # tries per request, the first included
    max_wait: float = 60.0  # a longer Retry-After is not slept through: TransientError(retry_after) instead
    base: float = 0.5  # exponential backoff with full jitter: uniform(0, min(cap, base * 2**n))
    cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


def seconds_setting(settings: dict[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    try:
        seconds = float(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return seconds


# ---- the client ---------------------------------------------------------------------------------
class ScimHttp:
    """One shared httpx.AsyncClient with at most `max_concurrency` requests in flight."""

    def __init__(self, base_url: str, tokens: TokenSource, *, timeout: float = 30.0, connect_timeout: float = 10.0,
                 max_concurrency: int = 8, dry_run: bool = False, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.directory_id = self.base_url.rsplit("/", 1)[-1]
        self.tokens, self.dry_run, self.retry, self.sleep = tokens, dry_run, retry or RetryPolicy(), sleep
        slots = max(1, int(max_concurrency))
        self.client = httpx.AsyncClient(
            base_url=self.base_url, transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=None),
            limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
            headers={"Accept": "application/scim+json", "User-Agent": "idconsole"},
        )
        self._slots = asyncio.Semaphore(slots)
        self._resume_at = 0.0  # monotonic time before which no request is sent (after a 429/503 Retry-After)

    def secrets(self) -> list[str]:
        return self.tokens.secrets()

    async def _wait_for_pause(self) -> None:
        remaining = self._resume_at - time.monotonic()
        if remaining > 0:
            await self.sleep(remaining)

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request, retrying what is safe to retry; the decoded body (None when empty)."""
        if self.dry_run and method != "GET":
            raise DryRunBlocked(f"dry run: {method} {path} was not sent to {self.host}",
                                hint="a dry run only reads; run without --dry-run to apply")
        retried_auth = False
        attempt = 0
        while True:
            attempt += 1
            await self._wait_for_pause()
            try:
                async with self._slots:
                    token = await self.tokens.token(self.client)
                    headers = {"Authorization": f"Bearer {token}"}
                    if json is not None:
                        headers["Content-Type"] = "application/scim+json; charset=utf-8"
                    response = await self.client.request(method, path, json=json, params=params, headers=headers)
            except httpx.HTTPError as exc:
                lost = connection_error(exc, self.host, self.secrets())
                if isinstance(lost, Unreachable) or method == "POST":  # a POST is never resent blindly
                    raise lost from None
                if attempt >= self.retry.attempts:
                    raise TransientError(f"{lost.title}, {attempt} times", detail=lost.detail,
                                         hint="the connection keeps dropping: try again later") from None
                await self.sleep(self.retry.backoff(attempt))
                continue
            if response.is_success:
                return decode(response, method, path)
            error = status_error(response, method, path, self.secrets(), self.tokens.oauth, self.directory_id)
            if isinstance(error, AuthFailed) and response.status_code == 401 and not retried_auth \
                    and self.tokens.invalidate():
                retried_auth = True  # a rotated key or an expired OAuth token: one more try with a fresh one
                continue
            if not isinstance(error, TransientError):
                raise error
            status, wait = response.status_code, error.retry_after
            if wait is not None and wait > self.retry.max_wait:
                raise error  # not slept through: the engine reschedules with retry_after
            if status not in (429, 503) and method == "POST":
                raise OutcomeUnknown(error.title, detail=error.detail, status=status, hint=error.hint)
            if attempt >= self.retry.attempts:
                raise TransientError(f"{error.title}, {attempt} times", retry_after=wait, detail=error.detail,
                                     status=status, hint="Atlassian is throttling or unavailable: try again later")
            if wait is not None:  # every request of this connector waits, not only this one
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
            else:
                await self.sleep(self.retry.backoff(attempt))

    async def backoff(self, attempt: int) -> None:
        await self.sleep(self.retry.backoff(attempt))

    async def aclose(self) -> None:
        await self.client.aclose()

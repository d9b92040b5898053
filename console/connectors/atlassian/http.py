"""The one place where Atlassian SCIM requests are sent: mode, bounded concurrency, the retry layer, errors.

Every request goes through `ScimHttp.request`, which refuses writes unless the connector is live, bounds
concurrency, retries under `console.connectors.retry` (Retry-After on 429/503 pauses every request of the
connector; other 5xx and resets back off with jitter), never resends a POST whose outcome is unknown (it
raises `OutcomeUnknown` so the caller looks the object up first), and turns every failure into a
`console.errors` class (errors.py) whose text has passed `console.redact`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from console.connectors.mode import Mode, guard
from console.connectors.retry import DeadlineExceeded, RetryPolicy
from console.errors import AuthFailed, TransientError, Unreachable

from .auth import TokenSource
from .errors import OutcomeUnknown, connection_error, decode, status_error

READS = frozenset({"GET", "HEAD", "OPTIONS"})


# ---- the client ---------------------------------------------------------------------------------
class ScimHttp:
    """One shared httpx.AsyncClient with at most `max_concurrency` requests in flight."""

    def __init__(self, base_url: str, tokens: TokenSource, *, max_concurrency: int = 8, mode: Mode = Mode.LIVE,
                 retry: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.directory_id = self.base_url.rsplit("/", 1)[-1]
        self.tokens, self.mode, self.retry, self.sleep, self.clock = tokens, mode, retry or RetryPolicy(), sleep, clock
        slots = max(1, int(max_concurrency))
        self.client = httpx.AsyncClient(
            base_url=self.base_url, transport=transport,
            timeout=httpx.Timeout(self.retry.read, connect=self.retry.connect, pool=None),
            limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
            headers={"Accept": "application/scim+json", "User-Agent": "idconsole"},
        )
        self._slots = asyncio.Semaphore(slots)
        # the collections' URLs (/Users, /Groups: every create's) as httpx joins them to the base URL, joined once:
        # the join was half of building each request (~27 of 46 us)
        self._urls: dict[str, httpx.URL] = {}
        self._resume_at = 0.0  # monotonic time before which no request is sent (after a 429/503 Retry-After)

    def secrets(self) -> list[str]:
        return self.tokens.secrets()

    async def _wait_for_pause(self) -> None:
        remaining = self._resume_at - time.monotonic()
        if remaining > 0:
            await self.sleep(remaining)

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request under the retry layer; the decoded body (None when empty)."""
        if method not in READS:
            guard(self.mode, f"{method} {path}", self.host)
        what = f"{method} {path}"
        attempts = self.retry.start(clock=self.clock, sleep=self.sleep)
        retried_auth = False
        while True:
            attempts.begin()
            await self._wait_for_pause()
            try:
                response = await attempts.bounded(self._send(method, path, json, params), f"Atlassian {what}")
            except DeadlineExceeded as exc:
                if method == "POST":
                    raise OutcomeUnknown(exc.title, hint=exc.hint) from None
                raise
            except httpx.HTTPError as exc:
                lost = connection_error(exc, self.host, self.secrets())
                if isinstance(lost, Unreachable) or method == "POST":  # a POST is never resent blindly
                    raise lost from None
                wait = attempts.delay()
                if wait is None:
                    raise attempts.gave_up(lost) from None
                await self.sleep(wait)
                continue
            if response.is_success:
                return decode(response, method, path, self.secrets())
            error = status_error(response, method, path, self.secrets(), self.tokens.oauth, self.directory_id)
            if isinstance(error, AuthFailed) and response.status_code == 401 and not retried_auth \
                    and self.tokens.invalidate():
                retried_auth = True  # a rotated key or an expired OAuth token: one more try with a fresh one
                continue
            if not isinstance(error, TransientError):
                raise error
            status, wait = response.status_code, error.retry_after
            if status not in (429, 503) and method == "POST":
                raise OutcomeUnknown(error.title, detail=error.detail, status=status, hint=error.hint)
            delay = attempts.delay(wait)
            if delay is None:
                raise attempts.gave_up(error)
            if wait is not None:  # every request of this connector waits, not only this one
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
            else:
                await self.sleep(delay)

    async def _send(self, method: str, path: str, json: Any, params: dict[str, Any] | None) -> httpx.Response:
        async with self._slots:
            token = await self.tokens.token(self.client)
            headers = {"Authorization": f"Bearer {token}"}
            body = None
            if json is not None:  # orjson: the same compact UTF-8 JSON as httpx's `json=`, in half its time
                headers["Content-Type"] = "application/scim+json; charset=utf-8"
                body = orjson.dumps(json)
            return await self.client.request(method, self._url(path), content=body, params=params, headers=headers)

    def _url(self, path: str) -> httpx.URL | str:
        """A collection's URL, joined once; any other path (an object's: unique per request) as it is."""
        if path.count("/") != 1:
            return path
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.client.build_request("GET", path).url
        return url

    async def aclose(self) -> None:
        await self.client.aclose()

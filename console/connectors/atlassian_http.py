"""The one place where Atlassian SCIM HTTP happens: bearer tokens, retries, dry-run, error translation.

Every request goes through `ScimHttp.request`, which bounds concurrency, honours Retry-After on 429/503
(pausing every request of the connector), backs off with jitter on other 5xx and resets, never retries a
POST whose outcome is unknown (it raises `OutcomeUnknown` so the caller looks the object up first), and
turns every failure into a `console.errors` class carrying Atlassian's own message.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.errors import (
    AlreadyExists,
    AuthFailed,
    ConfigError,
    DryRunBlocked,
    NotFound,
    Rejected,
    TransientError,
    Unreachable,
    redact,
)
from console.secrets import resolve

from .atlassian_payloads import scim_error

KEY_HINT = ("create a new API key: admin.atlassian.com > Security > Identity providers > your directory > "
            "(•••) Regenerate API key, then store it where the application's token reference points")
OAUTH_HINT = "check the OAuth client id and secret (admin.atlassian.com > Settings > API keys / service accounts)"
DIRECTORY_HINT = ("check the directory base URL: it is https://api.atlassian.com/scim/directory/{directoryId}, "
                  "shown in admin.atlassian.com > Security > Identity providers > your directory")


RETRYABLE = frozenset({429, 500, 502, 503, 504})


class OutcomeUnknown(TransientError):
    """A write was sent but its answer was lost (reset, timeout, 5xx): look before sending it again."""


@dataclass
class RetryPolicy:
    attempts: int = 5  # tries per request, the first included
    max_wait: float = 60.0  # a longer Retry-After is not slept through: TransientError(retry_after) instead
    base: float = 0.5  # exponential backoff with full jitter: uniform(0, min(cap, base * 2**n))
    cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


# ---- bearer token sources -----------------------------------------------------------------------
class StaticKey:
    """The directory API key, read from its secret reference on first use and kept in memory only."""

    oauth = False

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._value: str | None = None

    async def token(self, client: httpx.AsyncClient) -> str:
        if self._value is None:
            self._value = resolve(self.ref)
        return self._value

    def invalidate(self) -> bool:
        """Forget the key; True when reading the reference again gives another key worth one more try."""
        old, self._value = self._value, None
        try:
            return resolve(self.ref) != old
        except Exception:
            return False

    def secrets(self) -> list[str]:
        return [self._value or ""]


class ClientCredentials:
    """OAuth 2.0 client credentials (RFC 6749 §4.4) with the access token cached until shortly before expiry."""

    oauth = True

    def __init__(self, token_url: str, client_id: str, secret_ref: str, *, clock: Callable[[], float] = time.monotonic):
        self.token_url, self.client_id, self.secret_ref, self.clock = token_url, client_id, secret_ref, clock
        self._token: str | None = None
        self._expires = 0.0
        self._secret = ""
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or self.clock() >= self._expires:
                await self._fetch(client)
            assert self._token is not None
            return self._token

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        self._secret = resolve(self.secret_ref)
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        host = urlsplit(self.token_url).netloc
        try:
            response = await client.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise connection_error(exc, host, self.secrets()) from None
        if response.status_code in (400, 401, 403):
            raise AuthFailed(f"OAuth client credentials rejected ({response.status_code})", hint=OAUTH_HINT,
                             detail=redact(_body_text(response), self.secrets()), status=response.status_code)
        if response.status_code >= 300:
            raise TransientError(f"token endpoint {host} answered {response.status_code}", status=response.status_code,
                                 detail=redact(_body_text(response), self.secrets()), hint="try again later")
        body = response.json()
        self._token = str(body["access_token"])
        self._expires = self.clock() + max(0.0, float(body.get("expires_in", 3600)) - 60.0)
        self.fetches += 1

    def invalidate(self) -> bool:
        had, self._token = self._token is not None, None
        return had

    def secrets(self) -> list[str]:
        return [self._token or "", self._secret]


TokenSource = StaticKey | ClientCredentials


# ---- error translation --------------------------------------------------------------------------
def _body_text(response: httpx.Response) -> str:
    try:
        text = scim_error(response.json())
    except ValueError:
        text = ""
    return text or response.text[:300].strip() or response.reason_phrase


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_error(exc: httpx.HTTPError, host: str, secrets: list[str]) -> TransientError:
    """A failure to reach the host (refused, DNS, TLS, connect timeout) as Unreachable; anything else as unknown."""
    chain = _chain(exc)
    reason = redact(str(chain[-1]) or type(chain[-1]).__name__, secrets)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in reason or "CERTIFICATE" in reason.upper():
        return Unreachable(f"TLS handshake with {host} failed", detail=reason,
                           hint="check that the URL is right (https for a TLS server), the certificate, and any proxy")
    if isinstance(exc, httpx.ConnectTimeout):
        return Unreachable(f"cannot reach {host}: connection timed out", detail=reason,
                           hint="check the network, a firewall or proxy, and the base URL")
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in reason.lower():
            what = "connection refused"
        elif any(isinstance(e, socket.gaierror) for e in chain):
            what = "host name not resolved"
        else:
            what = "connection failed"
        return Unreachable(f"cannot reach {host}: {what}", detail=reason,
                           hint="check the base URL and that the host is up and reachable from here")
    return OutcomeUnknown(f"connection to {host} lost ({type(exc).__name__})", detail=reason,
                          hint="the request may or may not have been applied; it is retried after a check")


def _decode(response: httpx.Response, method: str, path: str) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ConfigError(f"{response.url.host} answered {method} {path} with something that is not SCIM JSON",
                          detail=response.text[:120].strip(), hint=DIRECTORY_HINT) from None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def status_error(response: httpx.Response, method: str, path: str, secrets: list[str], oauth: bool,
                 directory: str = "") -> Exception:
    """The console.errors class for a non-2xx answer, carrying Atlassian's own message."""
    status = response.status_code
    detail = redact(_body_text(response), secrets)
    what = f"{method} {path}"
    if status == 401:
        if oauth:
            return AuthFailed("OAuth access token rejected (401)", hint=OAUTH_HINT, detail=detail, status=status)
        return AuthFailed("API key rejected (401)", hint=KEY_HINT, detail=detail, status=status)
    if status == 403:
        return AuthFailed(f"not allowed to call the user provisioning API (403) for {what}", detail=detail,
                          status=status,
                          hint="use the directory's own API key (not an org admin key or a site API token)")
    if status == 404:
        if path.rstrip("/").count("/") <= 1:  # a collection or discovery endpoint: the directory is missing
            return ConfigError(f"directory {directory} not found (404)".replace("  ", " "), hint=DIRECTORY_HINT,
                               detail=detail)
        return NotFound(f"{path} not found (404)", detail=detail, status=status,
                        hint="it was deleted in the directory; the next sync re-creates or unlinks it")
    if status == 409:
        return AlreadyExists(f"already exists in the directory ({what})", detail=detail, status=status)
    if status in RETRYABLE:
        return TransientError(f"Atlassian answered {status} to {what}", retry_after=_retry_after(response),
                              detail=detail, status=status, hint="try again later")
    return Rejected(f"Atlassian refused {what} ({status})", detail=detail, status=status,
                    hint="fix the value named in the detail, then sync again")


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
                return _decode(response, method, path)
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

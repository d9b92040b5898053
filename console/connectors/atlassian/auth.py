"""Bearer token sources for Atlassian's SCIM API: the directory API key, or OAuth 2.0 client credentials.

Secrets are read from their references at first use and kept in memory only for the connector's life.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from console.errors import AuthFailed, ConfigError, IdConsoleError, TransientError
from console.models import Application
from console.redact import redact
from console.secrets import resolve

from .errors import OAUTH_HINT, body_text, connection_error

if TYPE_CHECKING:
    import httpx

DEFAULT_TOKEN_URL = "https://api.atlassian.com/oauth/token"


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
        except IdConsoleError:
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

    async def token(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or self.clock() >= self._expires:
                await self._fetch(client)
            assert self._token is not None
            return self._token

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        import httpx  # noqa: PLC0415 - loaded already by the client that asks

        self._secret = resolve(self.secret_ref)
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        host = urlsplit(self.token_url).netloc
        try:
            response = await client.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise connection_error(exc, host, self.secrets()) from None
        if response.status_code in (400, 401, 403):
            raise AuthFailed(f"OAuth client credentials rejected ({response.status_code})", hint=OAUTH_HINT,
                             detail=redact(body_text(response), self.secrets()), status=response.status_code)
        if response.status_code >= 300:
            raise TransientError(f"token endpoint {host} answered {response.status_code}", status=response.status_code,
                                 detail=redact(body_text(response), self.secrets()), hint="try again later")
        try:
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"{host} did not answer with an OAuth access token", hint=OAUTH_HINT,
                              detail=redact(response.text, self.secrets(), limit=120)) from None
        self._expires = self.clock() + max(0.0, lifetime - 60.0)  # renewed a minute before it expires

    def invalidate(self) -> bool:
        had, self._token = self._token is not None, None
        return had

    def secrets(self) -> list[str]:
        return [self._token or "", self._secret]


TokenSource = StaticKey | ClientCredentials


def token_source(app: Application) -> TokenSource:
    """The API key when there is one; OAuth client credentials when a client id and secret are set instead."""
    client_id = str(app.settings.get("client_id") or "")
    if "token" in app.secrets:
        return StaticKey(app.secrets["token"])
    if client_id and "client_secret" in app.secrets:
        return ClientCredentials(str(app.settings.get("token_url") or DEFAULT_TOKEN_URL), client_id,
                                 app.secrets["client_secret"])
    raise ConfigError(f"{app.name}: no credentials", hint="set the directory API key (secrets.token=env:VAR), or "
                                                          "client_id with secrets.client_secret for OAuth")

"""The `bitbucket` application kind: a read-only source of people (workspace members).

A source, not a target (see the registry): `console.connectors.make_source(app)` returns a `BitbucketSource`
that authenticates with OAuth 2.0 client credentials or an Atlassian API token, walks endpoints
(console/inbound/endpoints.py) and turns every HTTP/transport failure into console.errors in `get_json`,
its one request function: only GETs and the token POST leave it (read-only by nature, whatever the mode),
under the shared retry layer (429 waits for Retry-After), the 1,000 requests/hour budget checked first.
"""
from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.connectors import limits, tls
from console.connectors.base import ConnectionReport, Setting
from console.connectors.shape import shape_errors
from console.connectors.mode import Mode
from console.connectors.retry import SETTINGS as RETRY_SETTINGS
from console.connectors.retry import RetryPolicy
from console.errors import (
    AuthFailed,
    BadInput,
    ConfigError,
    IdConsoleError,
    NotFound,
    Rejected,
    TargetError,
    TransientError,
    Unreachable,
)
from console.inbound.budget import DEFAULT_LIMIT, RequestBudget
from console.inbound.endpoints import Endpoint, FetchResult, field_samples, macro_values, paginate
from console.models import Application
from console.redact import redact
from console.secrets import resolve
from console.text import retry_after_seconds

KIND = "bitbucket"
DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0"
DEFAULT_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"

SETTINGS: list[Setting] = [
    Setting("workspace", "Workspace (slug or {uuid})", required=True),
    Setting("auth", "Authorization", default="oauth", choices=("oauth", "api_token"),
            help="oauth: OAuth consumer (client credentials); api_token: Atlassian account e-mail + API token"),
    Setting("client_id", "OAuth consumer key", help="workspace settings > OAuth consumers (needs a private consumer)"),
    Setting("client_secret", "OAuth consumer secret", secret=True),
    Setting("email", "Atlassian account e-mail (API token auth)"),
    Setting("api_token", "Atlassian API token with read:workspace:bitbucket", secret=True),
    Setting("base_url", "API base URL", default=DEFAULT_BASE_URL, carries_secrets=True),
    Setting("token_url", "OAuth token URL", default=DEFAULT_TOKEN_URL, carries_secrets=True),
    *RETRY_SETTINGS,
    tls.SETTING,
    limits.SETTING,
    Setting("request_budget", "Requests per hour", default=DEFAULT_LIMIT, kind="int",
            help="Bitbucket allows 1,000 API requests per hour per user or consumer"),
    Setting("max_wait", "Longest wait for Retry-After (seconds)", default=120.0),
    Setting("linked_leavers", "People from another source who leave this one", default="keep",
            choices=("keep", "leaver"),
            help="keep: they stay active (e.g. the HR file still lists them) and the departure is reported; "
                 "leaver: they become leavers and their accounts are deprovisioned"),
]

Sleep = Callable[[float], Awaitable[None]]


def setting(app: Application, name: str) -> Any:
    value = app.settings.get(name)
    if value in (None, ""):
        value = next((s.default for s in SETTINGS if s.name == name), None)
    return value


class BitbucketSource:
    """Reads a workspace's members (and any configured endpoint) for `console.inbound.run`."""

    kind = KIND

    def __init__(self, app: Application, *, mode: Mode = Mode.READ_ONLY, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep = asyncio.sleep, budget: RequestBudget | None = None, retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.mode = app, mode  # every mode reads only: Bitbucket 2.0 has no member write API
        self.workspace = str(setting(app, "workspace") or "")
        self.auth = str(setting(app, "auth"))
        self.base_url = str(setting(app, "base_url")).rstrip("/")
        self.token_url = str(setting(app, "token_url"))
        if not self.workspace:
            raise ConfigError(f"{app.name}: no workspace configured",
                              hint="set it: idconsole apps set NAME workspace=SLUG")
        if self.auth not in ("oauth", "api_token"):
            raise ConfigError(f"{app.name}: auth {self.auth!r} is unknown", hint="use auth=oauth or auth=api_token")
        self.budget = budget or RequestBudget(int(setting(app, "request_budget")))
        self.retry = retry or RetryPolicy.from_settings({"max_wait": setting(app, "max_wait"), **app.settings})
        self.sleep, self.clock = sleep, clock
        self.requests = 0  # API calls sent (token calls excluded)
        self.token_requests = 0
        self.waits: list[float] = []  # seconds waited for 429/5xx, in order
        self._secrets: set[str] = set()
        self._token: str | None = None
        self._token_expires = 0.0
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.retry.read, connect=self.retry.connect),
                                         transport=limits.bounded(transport, app.settings),
                                         headers={"Accept": "application/json", "User-Agent": "idconsole"})

    async def __aenter__(self) -> BitbucketSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- credentials ----------------------------------------------------------------------
    def _secret(self, name: str) -> str:
        ref = self.app.secrets.get(name)
        if not ref:
            raise ConfigError(f"{self.app.name}: secret {name} is not configured",
                              hint=f"give a reference: idconsole apps add bitbucket … --secret-env VAR ({name})")
        value = resolve(ref)
        self._secrets.add(value)
        return value

    async def _auth_header(self, renew: bool = False) -> dict[str, str]:
        if self.auth == "api_token":
            email = str(setting(self.app, "email") or "")
            if not email:
                raise ConfigError(f"{self.app.name}: API token auth needs the account e-mail",
                                  hint="idconsole apps set NAME email=you@example.com")
            pair = base64.b64encode(f"{email}:{self._secret('api_token')}".encode()).decode()
            self._secrets.add(pair)
            return {"Authorization": f"Basic {pair}"}
        if renew or self._token is None or time.monotonic() >= self._token_expires:
            await self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    async def _fetch_token(self) -> None:
        client_id = str(setting(self.app, "client_id") or "")
        if not client_id:
            raise ConfigError(f"{self.app.name}: no OAuth client_id configured",
                              hint="create a private OAuth consumer in the workspace settings and set client_id")
        secret = self._secret("client_secret")
        self._token = None
        self.token_requests += 1
        try:
            response = await self._client.post(self.token_url, auth=(client_id, secret),
                                               data={"grant_type": "client_credentials"})
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, self.token_url) from None
        body = _json(response)
        body = body if isinstance(body, dict) else {}
        if response.status_code in (400, 401) and body.get("error") in ("unauthorized_client", "invalid_client",
                                                                        "invalid_grant", None):
            raise AuthFailed(f"{self.app.name}: Bitbucket refused the OAuth consumer credentials",
                             detail=self._clean(str(body.get("error_description") or response.reason_phrase)),
                             hint="check client_id and the client_secret reference; the consumer must be private",
                             status=response.status_code)
        if response.status_code != 200 or not body.get("access_token"):
            raise self._status_error(response, body, self.token_url)
        try:
            lifetime = min(max(float(body.get("expires_in", 3600)), 0.0), 86400.0)
        except (TypeError, ValueError):
            raise TargetError(f"{self.app.name}: the token endpoint answered expires_in="
                              f"{self._clean(repr(body.get('expires_in')))[:40]}, not a number of seconds",
                              status=response.status_code, hint="check token_url") from None
        self._token = str(body["access_token"])
        self._secrets.add(self._token)
        self._token_expires = time.monotonic() + lifetime - min(60.0, lifetime / 10)

    # --- the one place where HTTP becomes console.errors ----------------------------------
    async def get_json(self, url: str, params: dict[str, str] | None = None,
                       headers: dict[str, str] | None = None) -> dict[str, Any]:
        """GET a Bitbucket URL under the base URL; renew the token once on 401; retry under the retry layer."""
        self._check_origin(url)
        renewed = False
        attempts = self.retry.start(clock=self.clock, sleep=self._wait)
        while True:
            attempts.begin()
            self.budget.require(1, f"GET {urlsplit(url).path}")
            auth = await attempts.bounded(self._auth_header(), f"{self.app.name}: OAuth token from {self.token_url}")
            self.budget.record()
            self.requests += 1
            try:
                response = await attempts.bounded(
                    self._client.get(url, params=params or None, headers={**(headers or {}), **auth}),
                    f"{self.app.name}: GET {urlsplit(url).path}")
            except httpx.HTTPError as exc:
                error = self._transport_error(exc, url)
                wait = None if isinstance(error, Unreachable) else attempts.delay()
                if wait is None:
                    raise attempts.gave_up(error) from None
                await attempts.pause(wait)
                continue
            if response.status_code == 200:
                body = _json(response, None)
                if not isinstance(body, dict):
                    kind = "a JSON " + type(body).__name__ if body is not None else (
                        response.headers.get("content-type", "").split(";")[0] or "something") + " instead of JSON"
                    raise TargetError(f"{self.app.name}: Bitbucket answered GET {urlsplit(url).path} with {kind}",
                                      status=200, detail=self._clean(response.text[:200]),
                                      hint="check base_url: it must end with /2.0")
                return body
            if response.status_code == 401 and self.auth == "oauth" and not renewed:
                renewed = True
                self._token = None  # expired or revoked before our clock said so: renew once
                continue
            failure = self._status_error(response, _json(response), url)
            if not isinstance(failure, TransientError):
                raise failure
            wait = attempts.delay(failure.retry_after)
            if wait is None:
                raise attempts.gave_up(failure)
            await attempts.pause(wait)

    async def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.sleep(seconds)

    def _check_origin(self, url: str) -> None:
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (base.scheme, base.netloc) != (target.scheme, target.netloc):
            raise BadInput(f"{self.app.name}: {target.scheme}://{target.netloc} is not the application's API host",
                           hint=f"endpoints must stay under base_url ({self.base_url}); credentials are sent there")

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets, limit=300)

    def _transport_error(self, exc: httpx.HTTPError, url: str) -> TransientError:
        host = urlsplit(url).netloc
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return Unreachable(f"{self.app.name}: cannot reach {host}",
                               detail=self._clean(str(exc) or type(exc).__name__),
                               hint="check base_url/token_url, DNS, proxy and firewall")
        return TransientError(f"{self.app.name}: {host} did not answer properly",
                              detail=self._clean(str(exc) or type(exc).__name__), hint="try again later")

    def _status_error(self, response: httpx.Response, body: Any, url: str) -> TargetError:
        status = response.status_code
        message = ""
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                message = str(err.get("message", ""))
            else:
                message = str(body.get("error_description") or err or "")
        detail = self._clean(message or response.reason_phrase)
        path = urlsplit(url).path
        if status == 401:
            return AuthFailed(f"{self.app.name}: Bitbucket rejected the credentials", detail=detail, status=status,
                              hint="check the secret reference; API tokens need the scope read:workspace:bitbucket")
        if status == 403:
            return AuthFailed(f"{self.app.name}: the credentials may not read {path}", detail=detail, status=status,
                              hint="give the consumer the `account` permission (or the token read:workspace:bitbucket)")
        if status == 404:
            return NotFound(f"{self.app.name}: Bitbucket has no {path}", detail=detail, status=status,
                            hint=f"check the workspace slug ({self.workspace}) and the endpoint URL")
        if status == 429 or status >= 500:
            return TransientError(f"{self.app.name}: Bitbucket is throttling or failing (HTTP {status})",
                                  retry_after=retry_after_seconds(response), detail=detail, status=status,
                                  hint="run again later; Bitbucket allows 1,000 requests per hour")
        return Rejected(f"{self.app.name}: Bitbucket refused GET {path} (HTTP {status})", detail=detail, status=status,
                        hint="check the endpoint's parameters (pagelen is at most 100)")

    # --- what the rest of the console calls -----------------------------------------------
    def macros(self) -> dict[str, str]:
        return macro_values(workspace=self.workspace, base_url=self.base_url, app=self.app.name,
                            last_run=str(self.app.last_run.get("time", "")))

    async def fetch_all(self, endpoint: Endpoint, *, first_page_only: bool = False) -> FetchResult:
        """Every record of the endpoint, with page count and completeness (see `paginate`)."""

        async def get(url: str, params: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
            return await self.get_json(url, params, headers)

        return await paginate(endpoint, self.macros(), get, first_page_only=first_page_only,
                              plan=lambda n: self.budget.require(n, f"reading {endpoint.name} ({n} more pages)"))

    async def fetch(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        return (await self.fetch_all(endpoint)).records

    async def sample(self, endpoint: Endpoint) -> dict[str, Any]:
        """The first page's fields, flattened, each with a sample value (for picking a mapping)."""
        result = await self.fetch_all(endpoint, first_page_only=True)
        return field_samples(result.records)

    async def test(self) -> ConnectionReport:
        """Who the credentials act as, and whether they can read the workspace's members."""
        details: dict[str, Any] = {"workspace": self.workspace, "auth": self.auth, "base_url": self.base_url}
        try:
            try:
                me = await self.get_json(f"{self.base_url}/user")
                details.update(acts_as=str(me.get("display_name", "")), account_id=str(me.get("account_id", "")),
                               uuid=str(me.get("uuid", "")), account_type=str(me.get("type", "")))
            except AuthFailed as exc:
                if exc.status != 403:
                    raise
                details["acts_as"] = "(unknown: the credentials may not read /user)"
            page = await self.get_json(f"{self.base_url}/workspaces/{self.workspace}/members", {"pagelen": "1"})
            wrong = shape_errors(page, {"values": list, "size": int})
            if wrong:
                raise TargetError(f"{self.app.name}: the members page does not have Bitbucket's shape: {wrong}",
                                  hint="check base_url: it must be the Bitbucket 2.0 API (…/2.0)")
        except IdConsoleError as exc:
            return ConnectionReport(False, str(exc), {**details, "error": type(exc).__name__})
        details["members"] = page.get("size")
        who = details["acts_as"]
        if details.get("account_type") == "app_user":
            who += " (the OAuth consumer's app user)"
        count = f"{details['members']} members" if details["members"] is not None else "members"
        return ConnectionReport(True, f"acts as {who}; can read {count} of workspace {self.workspace}", details)


_NOT_JSON: Any = object()


def _json(response: httpx.Response, default: Any = _NOT_JSON) -> Any:
    """The decoded JSON body; `default` ({} unless given) when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return {} if default is _NOT_JSON else default

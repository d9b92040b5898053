"""Microsoft 365 / Entra ID connector through msgraph-sdk: users, licences (which bring the Exchange Online
mailbox), deprovisioning (disable + revoke sessions + remove licences), soft delete and restore, security groups.

Every Graph request goes through `_call`, which bounds concurrency and the operation's deadline and turns SDK
errors into `console.errors` (text passed through `console.redact`); the transport under the SDK
(guard.py) lets only reads out unless the connector is live.

Retries: msgraph-sdk's RetryHandler is the one retry layer for Graph. It is configured from the
application's `RetryPolicy` (`max_attempts` tries in all for 429/503/504, Retry-After honoured); the
connector adds none for throttling, only the replication-lag re-try of a 404 right after a create, which
shares the same attempt count and deadline. POSTs that must not be resent (group create) switch the
handler off and retry a 429 (never processed) themselves, within the same count.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from console.connectors import KINDS, limits, tls
from console.connectors.base import Capability, ConnectionReport, Setting
from console.connectors.value_limits import ValueLimits
from console.connectors.attribute_limits import GRAPH_LIMITS, Limit, check_attributes
from console.connectors.mode import Mode
from console.connectors.retry import SETTINGS as RETRY_SETTINGS
from console.connectors.retry import RetryPolicy
from console.connectors.shape import shape_errors
from console.errors import ConfigError, IdConsoleError, NotFound, SecretMissing
from console.models import Application, User
from console.secrets import resolve

from . import attrs as attrs_mod
from .auth import DEFAULT_AUTHORITY, DEFAULT_BASE_URL, make_credential
from .groups import GroupOperations
from .users import UserOperations, users_query

if TYPE_CHECKING:  # msgraph and its client, imported by the methods that send: a plan never loads them
    from msgraph import GraphServiceClient

log = logging.getLogger("console.connectors.graph")
T = TypeVar("T")

SETTINGS = [
    Setting("tenant_id", "Tenant ID", required=True, help="Directory (tenant) ID or a verified domain name"),
    Setting("client_id", "Application (client) ID", required=True, help="the app registration's client id"),
    Setting("client_secret", "Client secret", required=True, secret=True,
            help="a reference (env:VAR or keyring:SERVICE/NAME) to the client secret value"),
    Setting("base_url", "Graph base URL", default=DEFAULT_BASE_URL, help="a sandbox URL for the demo and tests",
            carries_secrets=True),
    Setting("authority", "Token authority", default=DEFAULT_AUTHORITY, carries_secrets=True,
            help="Entra ID authority host; for a local sandbox its URL, e.g. http://127.0.0.1:8765"),
    Setting("usage_location", "Usage location", default="", help="two-letter country code; licences need it"),
    Setting("license_skus", "Licence SKU ids", default=[], kind="list",
            help="skuId GUIDs (see `apps test`); a SKU with Exchange Online brings the mailbox"),
    Setting("upn_suffix", "UPN suffix", default="", help="verified domain used for userPrincipalName"),
    Setting("revoke_sessions", "Revoke sign-in sessions on disable", default=True, kind="bool"),
    Setting("remove_licenses", "Remove licences on disable", default=True, kind="bool",
            help="the mailbox is kept 30 days and reconnects when relicensed"),
    Setting("delete_after_days", "Delete N days after disable", default=None, kind="int",
            help="deleted users stay restorable for 30 days"),
    Setting("restore_deleted", "Restore a deleted user holding the UPN instead of creating", default=True, kind="bool"),
    *RETRY_SETTINGS,
    tls.SETTING,
    limits.SETTING,
]
EXCHANGE_PLANS = ("EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_STANDARD", "EXCHANGE_S_DESKLESS", "EXCHANGE_S_FOUNDATION")


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class GraphConnector(UserOperations, GroupOperations):
    kind = "graph"
    capabilities: frozenset[Capability] = KINDS["graph"].capabilities
    attributes_version = attrs_mod.ATTRIBUTES_VERSION

    def __init__(self, app: Application, *, mode: Mode = Mode.LIVE, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        settings = app.settings
        self.app, self.mode = app, mode
        self.retry = retry or RetryPolicy.from_settings(settings)
        self.sleep, self.clock = sleep, clock
        self.tenant_id = str(settings.get("tenant_id") or "").strip()
        self.client_id = str(settings.get("client_id") or "").strip()
        for name, value in (("tenant_id", self.tenant_id), ("client_id", self.client_id)):
            if not value:
                raise ConfigError(f"{app.name}: setting {name} is missing",
                                  hint="copy it from Entra admin center > App registrations > Overview")
        self.base_url = str(settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.authority = str(settings.get("authority") or DEFAULT_AUTHORITY)
        self.usage_location = str(settings.get("usage_location") or "").upper()
        self.upn_suffix = str(settings.get("upn_suffix") or "")
        raw_skus = settings.get("license_skus") or []
        self.license_skus = [s.strip().lower() for s in (raw_skus.split(",") if isinstance(raw_skus, str) else raw_skus)
                             if s and s.strip()]
        for sku in self.license_skus:
            try:
                uuid.UUID(sku)
            except ValueError:
                raise ConfigError(f"{app.name}: licence {sku!r} is not a skuId GUID",
                                  hint="`idconsole apps test` lists the tenant's SKUs with their ids") from None
        self.revoke_sessions = _flag(settings.get("revoke_sessions"), True)
        self.remove_licenses = _flag(settings.get("remove_licenses"), True)
        self.restore_deleted = _flag(settings.get("restore_deleted"), True)
        self.consistency_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
        self._secret_ref = app.secrets.get("client_secret", "")
        self._semaphore = asyncio.Semaphore(max(1, int(app.max_concurrency or 1)))
        self._client: GraphServiceClient | None = None
        self._http: Any = None
        self._credential: Any = None

    # --- plumbing ------------------------------------------------------------------------------------------------
    def _secret(self) -> str:
        if not self._secret_ref:
            raise SecretMissing(f"{self.app.name}: no client secret reference",
                                hint="add one: idconsole apps add graph … --secret-env VAR")
        return resolve(self._secret_ref)

    def secrets(self) -> list[str]:
        """The client secret and any access token fetched with it."""
        tokens = [t.token for t in getattr(self._credential, "_cached", {}).values()]
        try:
            return [self._secret(), *tokens]
        except IdConsoleError:
            return tokens

    def _graph(self) -> GraphServiceClient:
        # msgraph: loaded at the first request (a plan sends none)
        from .client import build_client  # noqa: PLC0415

        if self._client is None:
            max_bytes = limits.limit_bytes(self.app.settings)
            self._credential = make_credential(self.authority, self.tenant_id, self.client_id, self._secret,
                                               timeout=self.retry.read, max_bytes=max_bytes)
            self._client, self._http = build_client(self.base_url, self._credential, self.retry, self.mode, max_bytes)
        return self._client

    async def _call(self, op: str, request: Callable[[GraphServiceClient], Awaitable[T]], *,
                    retry_not_found: bool = False) -> T:
        """Run one Graph request within the operation's deadline: bound concurrency, translate errors, and (right
        after a create) re-try 404s that come from replication lag, within the same attempt count."""
        # msgraph: loaded at the first request (a plan sends none)
        from .client import translate  # noqa: PLC0415

        client = self._graph()
        attempts = self.retry.start(clock=self.clock, sleep=self.sleep)
        delays = iter(self.consistency_delays if retry_not_found else ())
        while True:
            attempts.begin()
            try:
                async with self._semaphore:
                    return await attempts.bounded(request(client), f"Microsoft Graph: {op}")
            except Exception as exc:  # noqa: BLE001 - translate() decides; unknown exceptions are re-raised
                error = translate(exc, op, client_id=self.client_id, secrets=self.secrets())
                if error is None:
                    raise
            delay = next(delays, None) if isinstance(error, NotFound) and attempts.delay(0) is not None else None
            if delay is None:
                raise error
            log.debug("graph: %s got 404 (replication lag?), retrying in %.1fs", op, delay)
            await attempts.pause(delay)

    # --- protocol: attributes ------------------------------------------------------------------------------------
    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        return attrs_mod.account_attributes(user, login_method, upn_suffix=self.upn_suffix,
                                            usage_location=self.usage_location, license_skus=self.license_skus)

    def account_name(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("userPrincipalName", ""))

    def value_limits(self) -> ValueLimits:
        return attrs_mod.VALUE_LIMITS
    def limits(self) -> dict[str, Limit]:
        return GRAPH_LIMITS

    def check_attributes(self, attrs: dict[str, Any]) -> list[str]:
        """What Graph would refuse in `attrs` (its property limits), before anything is sent."""
        return check_attributes(self.app.name, GRAPH_LIMITS, attrs)

    # --- connection test -----------------------------------------------------------------------------------------
    async def test(self) -> ConnectionReport:
        # msgraph: loaded at the first request (a plan sends none)
        from .client import plain_json  # noqa: PLC0415

        self.retry = self.retry.for_test()
        try:
            users = await self._call("read users",
                                     lambda c: c.users.get(plain_json(users_query(top=1, select=["id"]))))
            wrong = shape_errors(users, {"value": list}, required=("value",))
            if wrong:
                raise ConfigError(f"Microsoft Graph answered GET /users with something else than a page: {wrong}",
                                  hint="check base_url: it is https://graph.microsoft.com/v1.0")
            skus = await self._call("read subscribed licences", lambda c: c.subscribed_skus.get())
        except IdConsoleError as exc:
            return ConnectionReport(False, str(exc), {"error": type(exc).__name__, "hint": exc.hint})
        available = {str(s.sku_id).lower(): s for s in (skus.value or [])} if skus else {}
        missing = [sku for sku in self.license_skus if sku not in available]
        mailbox = [sku for sku in self.license_skus if sku in available and any(
            (plan.service_plan_name or "") in EXCHANGE_PLANS for plan in available[sku].service_plans or [])]
        seats = {sku: f"{s.sku_part_number} ({s.consumed_units}/{s.prepaid_units.enabled if s.prepaid_units else '?'}"
                      " used)" for sku, s in available.items()}
        details = {"tenant_id": self.tenant_id, "base_url": self.base_url, "licenses": seats,
                   "missing_licenses": missing, "mailbox_licenses": mailbox}
        if missing:
            return ConnectionReport(False, f"signed in, but licence SKU(s) {', '.join(missing)} are not in the tenant",
                                    details)
        note = "; configured licences bring an Exchange Online mailbox" if mailbox else (
            "; no configured licence brings a mailbox" if self.license_skus else "")
        return ConnectionReport(True, f"signed in to tenant {self.tenant_id}; users readable{note}", details)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()
        self._client = self._http = self._credential = None


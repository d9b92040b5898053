"""Microsoft 365 / Entra ID connector through msgraph-sdk: users, licences (which bring the Exchange Online
mailbox), deprovisioning (disable + revoke sessions + remove licences), soft delete and restore, security groups.

Every Graph request goes through `_call`, which enforces dry-run, bounds concurrency and turns SDK errors
into `console.errors`. 429/503/504 are retried by the SDK's RetryHandler (honouring Retry-After) first.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.user import User as GraphUser
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from console.errors import AlreadyExists, ConfigError, DryRunBlocked, IdConsoleError, NotFound, SecretMissing, TransientError
from console.models import Application, RemoteAccount, User, utcnow
from console.secrets import resolve

from . import graph_attrs as attrs_mod
from .base import Capability, ConnectionReport, Setting
from .graph_auth import DEFAULT_AUTHORITY, DEFAULT_BASE_URL, make_credential
from .graph_client import build_client, plain_json, translate
from .graph_groups import GroupOperations

log = logging.getLogger("console.connectors.graph")
T = TypeVar("T")

SETTINGS = [
    Setting("tenant_id", "Tenant ID", required=True, help="Directory (tenant) ID or a verified domain name"),
    Setting("client_id", "Application (client) ID", required=True, help="the app registration's client id"),
    Setting("client_secret", "Client secret", required=True, secret=True,
            help="a reference (env:VAR or keyring:SERVICE/NAME) to the client secret value"),
    Setting("base_url", "Graph base URL", default=DEFAULT_BASE_URL, help="a sandbox URL for the demo and tests"),
    Setting("authority", "Token authority", default=DEFAULT_AUTHORITY,
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
    Setting("timeout", "HTTP timeout in seconds", default=30, kind="int"),
]
EXCHANGE_PLANS = ("EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_STANDARD", "EXCHANGE_S_DESKLESS", "EXCHANGE_S_FOUNDATION")


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def users_query(filter_: str | None = None, top: int = 999, select: list[str] | None = None) -> RequestConfiguration:
    """Advanced-query configuration (ConsistencyLevel + $count), resent on every page."""
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter=filter_, top=top, count=True, select=select or attrs_mod.USER_SELECT)
    config = RequestConfiguration(query_parameters=params)
    config.headers.add("ConsistencyLevel", "eventual")
    return config


class GraphConnector(GroupOperations):
    kind = "graph"
    capabilities = frozenset({Capability.CREATE, Capability.UPDATE, Capability.DEACTIVATE, Capability.REACTIVATE,
                              Capability.DELETE, Capability.GROUPS, Capability.MEMBERSHIPS, Capability.TEST})

    def __init__(self, app: Application, *, dry_run: bool = False) -> None:
        settings = app.settings
        self.app, self.dry_run = app, dry_run
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
        self.timeout = float(settings.get("timeout") or 30)
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

    def _known_secrets(self) -> list[str]:
        try:
            return [self._secret()]
        except IdConsoleError:
            return []

    def _graph(self) -> GraphServiceClient:
        if self._client is None:
            self._credential = make_credential(self.authority, self.tenant_id, self.client_id, self._secret,
                                               timeout=self.timeout)
            self._client, self._http = build_client(self.base_url, self._credential, self.timeout)
        return self._client

    async def _call(self, op: str, request: Callable[[GraphServiceClient], Awaitable[T]], *, write: bool = False,
                    retry_not_found: bool = False) -> T:
        """Run one Graph request: refuse writes in a dry run, bound concurrency, translate errors, and (right
        after a create) retry 404s that come from replication lag."""
        if write and self.dry_run:
            raise DryRunBlocked(f"dry run: refusing to {op} in {self.app.name}", hint="run without --dry-run to apply")
        client = self._graph()
        delays = iter(self.consistency_delays if retry_not_found else ())
        while True:
            try:
                async with self._semaphore:
                    return await request(client)
            except Exception as exc:  # noqa: BLE001 - translate() decides; unknown exceptions are re-raised
                error = translate(exc, op, client_id=self.client_id, secrets=self._known_secrets())
                if error is None:
                    raise
            delay = next(delays, None) if isinstance(error, NotFound) else None
            if delay is None:
                raise error
            log.debug("graph: %s got 404 (replication lag?), retrying in %.1fs", op, delay)
            await asyncio.sleep(delay)

    # --- protocol: attributes ------------------------------------------------------------------------------------
    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        return attrs_mod.account_attributes(user, login_method, upn_suffix=self.upn_suffix,
                                            usage_location=self.usage_location)

    def account_name(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("userPrincipalName", ""))

    # --- users ---------------------------------------------------------------------------------------------------
    async def _lookup(self, attrs: dict[str, Any]) -> GraphUser | None:
        upn, mail = str(attrs.get("userPrincipalName") or ""), str(attrs.get("mail") or "")
        clauses = [f"userPrincipalName eq '{_quote(v)}'" for v in (upn,) if v]
        clauses += [f"mail eq '{_quote(v)}'" for v in (mail,) if v]
        if not clauses:
            return None
        page = await self._call(f"look up {upn or mail}", lambda c: c.users.get(users_query(" or ".join(clauses))))
        found = list(page.value or []) if page else []
        by_upn = [u for u in found if (u.user_principal_name or "").lower() == upn.lower()]
        return (by_upn or found or [None])[0]

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None:
        found = await self._lookup(attrs)
        return attrs_mod.remote_account(found) if found else None

    async def create_user(self, attrs: dict[str, Any]) -> RemoteAccount:
        upn = str(attrs["userPrincipalName"])
        existing = await self._lookup(attrs)
        if existing is not None:
            return await self._adopt(existing, attrs, adopted=True)
        if self.restore_deleted:
            deleted = await self._deleted_by_upn(upn)
            if deleted is not None:
                restored = await self.restore_user(str(deleted.id))
                return await self._adopt(await self._get_user(restored.uid), attrs, restored=True)
        password = attrs_mod.generate_password()
        body = attrs_mod.graph_user(attrs, creating=True, password=password)
        started = datetime.now(timezone.utc)
        try:
            created = await self._call(f"create user {upn}", lambda c: c.users.post(body), write=True)
        except (AlreadyExists, TransientError):
            # Unknown outcome (a lost answer, or the SDK retried a POST that had gone through): look again.
            existing = await self._lookup(attrs)
            if existing is None:
                raise
            made_now = existing.created_date_time and existing.created_date_time >= started - timedelta(minutes=2)
            extra = {"initial_password": password} if made_now else {}
            return await self._adopt(existing, attrs, adopted=not made_now, **extra)
        uid = str(created.id) if created else ""
        warnings = await self._ensure_licenses(uid, [], after_create=True)
        account_attrs = {**attrs, "licenses": sorted(self.license_skus), "initial_password": password}
        if warnings:
            account_attrs["warnings"] = warnings
        return RemoteAccount(uid=uid, name=upn, attrs=account_attrs, active=bool(attrs.get("accountEnabled", True)))

    async def _adopt(self, existing: GraphUser, attrs: dict[str, Any], **flags: Any) -> RemoteAccount:
        """Link an account that already exists: bring its attributes and licences to the desired state."""
        uid = str(existing.id)
        changes = attrs_mod.differences(attrs, existing)
        if changes:
            await self.update_user(uid, changes)
        held = [str(lic.sku_id).lower() for lic in (existing.assigned_licenses or []) if lic.sku_id]
        warnings = await self._ensure_licenses(uid, held, after_create=bool(flags.get("initial_password")))
        account = attrs_mod.remote_account(existing, {**attrs, **flags})
        account.attrs["licenses"] = sorted(set(held) | set(self.license_skus))
        account.active = bool(attrs.get("accountEnabled", account.active))
        if warnings:
            account.attrs["warnings"] = warnings
        return account

    async def _ensure_licenses(self, uid: str, held: list[str], *, after_create: bool = False,
                               wanted: list[str] | None = None) -> list[str]:
        """Assign the configured SKUs the user lacks. A refusal (no seats, no usage location) is returned as a
        warning: the account exists and the operator must see its one-time password anyway."""
        missing = [sku for sku in (self.license_skus if wanted is None else wanted) if sku not in held]
        if not missing:
            return []
        body = AssignLicensePostRequestBody(
            add_licenses=[AssignedLicense(sku_id=uuid.UUID(sku), disabled_plans=[]) for sku in missing],
            remove_licenses=[])
        try:
            await self._call(f"assign licences to {uid}",
                             lambda c: c.users.by_user_id(uid).assign_license.post(body),
                             write=True, retry_not_found=after_create)
        except (DryRunBlocked, TransientError):
            raise
        except IdConsoleError as exc:
            log.warning("graph: licences for %s not assigned: %s", uid, exc)
            return [f"licences not assigned: {exc}"]
        return []

    async def _get_user(self, uid: str) -> GraphUser:
        config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=attrs_mod.USER_SELECT))
        user = await self._call(f"read user {uid}", lambda c: c.users.by_user_id(uid).get(config))  # type: ignore[arg-type]
        if user is None:
            raise NotFound(f"user {uid} not found in Microsoft Graph")
        return user

    async def update_user(self, uid: str, changes: dict[str, Any]) -> None:
        known = {k: v for k, v in changes.items() if k in attrs_mod.ATTRIBUTE_FIELDS}
        if not known:
            return
        body = attrs_mod.graph_user(known, creating=False)
        await self._call(f"update user {uid}", lambda c: c.users.by_user_id(uid).patch(body), write=True)

    async def deactivate_user(self, uid: str) -> dict[str, Any]:
        try:
            user = await self._get_user(uid)
        except NotFound:
            return {"gone": True}
        await self._call(f"disable user {uid}", lambda c: c.users.by_user_id(uid).patch(GraphUser(account_enabled=False)),
                         write=True)
        remembered: dict[str, Any] = {"deactivated_at": utcnow()}
        if self.revoke_sessions:
            await self._call(f"revoke sign-in sessions of {uid}",
                             lambda c: c.users.by_user_id(uid).revoke_sign_in_sessions.post(), write=True)
        held = [lic.sku_id for lic in (user.assigned_licenses or []) if lic.sku_id]
        if self.remove_licenses and held:
            body = AssignLicensePostRequestBody(add_licenses=[], remove_licenses=held)
            await self._call(f"remove licences of {uid}", lambda c: c.users.by_user_id(uid).assign_license.post(body),
                             write=True)
            remembered["licenses"] = sorted(str(sku).lower() for sku in held)
        return remembered

    async def reactivate_user(self, uid: str, remembered: dict[str, Any]) -> None:
        try:
            user = await self._get_user(uid)
        except NotFound:
            await self.restore_user(uid)  # deleted within the last 30 days: bring it back first
            user = await self._get_user(uid)
        await self._call(f"enable user {uid}", lambda c: c.users.by_user_id(uid).patch(GraphUser(account_enabled=True)),
                         write=True)
        held = [str(lic.sku_id).lower() for lic in (user.assigned_licenses or []) if lic.sku_id]
        wanted = sorted(set(remembered.get("licenses") or []) | set(self.license_skus))
        for warning in await self._ensure_licenses(uid, held, wanted=wanted):
            log.warning("graph: %s", warning)

    async def delete_user(self, uid: str) -> None:
        """Soft delete: the user stays restorable for 30 days (directory/deletedItems)."""
        try:
            await self._call(f"delete user {uid}", lambda c: c.users.by_user_id(uid).delete(), write=True)
        except NotFound:
            log.info("graph: user %s already gone", uid)

    async def restore_user(self, uid: str) -> RemoteAccount:
        restored = await self._call(f"restore deleted user {uid}",
                                    lambda c: c.directory.deleted_items.by_directory_object_id(uid).restore.post(),
                                    write=True)
        if not isinstance(restored, GraphUser):
            raise NotFound(f"deleted item {uid} is not a user")
        return attrs_mod.remote_account(restored)

    async def _deleted_by_upn(self, upn: str) -> GraphUser | None:
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"userPrincipalName eq '{_quote(upn)}'", select=["id", "userPrincipalName", "deletedDateTime"])
        page = await self._call(f"look up deleted user {upn}",
                                lambda c: c.directory.deleted_items.graph_user.get(RequestConfiguration(query_parameters=params)))  # type: ignore[arg-type]
        found = list(page.value or []) if page else []
        return found[0] if found else None

    async def list_users(self) -> AsyncIterator[RemoteAccount]:
        """Every user, following @odata.nextLink by hand (pages may be empty and still have a nextLink) and
        resending ConsistencyLevel each time. Pages are read as plain JSON: see `JsonResponseHandler`."""
        config = plain_json(users_query())
        page: Any = await self._call("list users", lambda c: c.users.get(config))
        while page:
            for doc in page.get("value") or []:
                yield attrs_mod.remote_account_from_json(doc)
            link = page.get("@odata.nextLink")
            if not link:
                break
            page = await self._call("list users", lambda c: c.users.with_url(link).get(config))

    # --- connection test -----------------------------------------------------------------------------------------
    async def test(self) -> ConnectionReport:
        try:
            await self._call("read users", lambda c: c.users.get(users_query(top=1, select=["id"])))
            skus = await self._call("read subscribed licences", lambda c: c.subscribed_skus.get())
        except IdConsoleError as exc:
            return ConnectionReport(False, str(exc), {"error": type(exc).__name__, "hint": exc.hint})
        available = {str(s.sku_id).lower(): s for s in (skus.value or [])} if skus else {}
        missing = [sku for sku in self.license_skus if sku not in available]
        mailbox = [sku for sku in self.license_skus if sku in available and any(
            (plan.service_plan_name or "") in EXCHANGE_PLANS for plan in available[sku].service_plans or [])]
        details = {"tenant_id": self.tenant_id, "base_url": self.base_url,
                   "licenses": {sku: f"{s.sku_part_number} ({s.consumed_units}/{s.prepaid_units.enabled if s.prepaid_units else '?'} used)"
                                for sku, s in available.items()},
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


def make(app: Application, *, dry_run: bool = False) -> GraphConnector:
    return GraphConnector(app, dry_run=dry_run)

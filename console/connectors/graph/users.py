"""User lifecycle in Microsoft Graph (a mixin of GraphConnector: it uses `_call` and the connector's settings):
create or adopt, update, disable + revoke sessions + remove licences, enable, soft delete, restore, list.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from console.connectors.base import CreateResult
from console.errors import AlreadyExists, DryRunBlocked, IdConsoleError, NotFound, ReadOnly, TransientError
from console.models import RemoteAccount, utcnow

from . import attrs as attrs_mod

if TYPE_CHECKING:  # msgraph and its client, imported by the methods that send: a plan never loads them
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphServiceClient
    from msgraph.generated.models.user import User as GraphUser
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

log = logging.getLogger("console.connectors.graph")
T = TypeVar("T")


def _quote(value: str) -> str:
    return value.replace("'", "''")


def users_query(filter_: str | None = None, top: int = 999, select: list[str] | None = None,
                ) -> RequestConfiguration[UsersRequestBuilder.UsersRequestBuilderGetQueryParameters]:
    """Advanced-query configuration (ConsistencyLevel + $count), resent on every page."""
    # msgraph: loaded at the first request (a plan sends none)
    from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: PLC0415

    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter=filter_, top=top, count=True, select=select or attrs_mod.USER_SELECT)
    config = RequestConfiguration(query_parameters=params)
    config.headers.add("ConsistencyLevel", "eventual")
    return config


class UserOperations:
    license_skus: list[str]
    restore_deleted: bool
    revoke_sessions: bool
    remove_licenses: bool

    if TYPE_CHECKING:
        async def _call(self, op: str, request: Callable[[GraphServiceClient], Awaitable[T]], *, retry_not_found: bool = False) -> T: ...

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
        matches = by_upn or found
        return matches[0] if matches else None

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None:
        found = await self._lookup(attrs)
        return attrs_mod.remote_account(found) if found else None

    async def create_user(self, attrs: dict[str, Any]) -> CreateResult:
        upn = str(attrs["userPrincipalName"])
        existing = await self._lookup(attrs)
        if existing is not None:
            return await self._adopt(existing, attrs, adopted=True)
        if self.restore_deleted:
            deleted = await self._deleted_match(attrs)
            if deleted is not None:
                restored = await self.restore_user(str(deleted.id))
                return await self._adopt(await self._get_user(restored.uid), attrs, restored=True)
        password = attrs_mod.generate_password()
        body = attrs_mod.graph_user(attrs, creating=True, password=password)
        started = datetime.now(timezone.utc)
        try:
            created = await self._call(f"create user {upn}", lambda c: c.users.post(body))
        except (AlreadyExists, TransientError):
            # Unknown outcome (a lost answer, or the SDK retried a POST that had gone through): look again.
            existing = await self._lookup(attrs)
            if existing is None:
                raise
            made_now = existing.created_date_time and existing.created_date_time >= started - timedelta(minutes=2)
            return await self._adopt(existing, attrs, adopted=not made_now, password=password if made_now else None)
        uid = str(created.id) if created else ""
        warnings = await self._ensure_licenses(uid, [], after_create=True)
        assigned = [] if warnings else sorted(self.license_skus)  # what Graph holds: a failed SKU is retried later
        return CreateResult(uid=uid, name=upn, attributes={**attrs, "licenses": assigned},
                            active=bool(attrs.get("accountEnabled", True)), initial_password=password,
                            warnings=warnings)

    async def _adopt(self, existing: GraphUser, attrs: dict[str, Any], *, adopted: bool = False,
                     restored: bool = False, password: str | None = None) -> CreateResult:
        """Link an account that already exists: bring its attributes and licences to the desired state."""
        uid = str(existing.id)
        changes = attrs_mod.differences(attrs, existing)
        if changes:
            await self.update_user(uid, changes)
        held = [str(lic.sku_id).lower() for lic in (existing.assigned_licenses or []) if lic.sku_id]
        warnings = await self._ensure_licenses(uid, held, after_create=bool(password))
        account = attrs_mod.remote_account(existing, {**attrs, **({"restored": True} if restored else {})})
        account.attrs["licenses"] = sorted(set(held) | (set() if warnings else set(self.license_skus)))
        account.active = bool(attrs.get("accountEnabled", account.active))
        return CreateResult.of(account, adopted=adopted, initial_password=password, warnings=warnings)

    async def _ensure_licenses(self, uid: str, held: list[str], *, after_create: bool = False,
                               wanted: list[str] | None = None, strict: bool = False) -> list[str]:
        """Assign the SKUs the user lacks (the configured ones unless `wanted`). Unless `strict`, a refusal (no
        seats, no usage location, throttling) is returned as a warning: the account exists and the operator
        must still see its one-time password."""
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody  # noqa: PLC0415
        from msgraph.generated.models.assigned_license import AssignedLicense  # noqa: PLC0415

        missing = [sku for sku in (self.license_skus if wanted is None else wanted) if sku not in held]
        if not missing:
            return []
        body = AssignLicensePostRequestBody(
            add_licenses=[AssignedLicense(sku_id=uuid.UUID(sku), disabled_plans=[]) for sku in missing],
            remove_licenses=[])
        try:
            await self._call(f"assign licences to {uid}",
                             lambda c: c.users.by_user_id(uid).assign_license.post(body), retry_not_found=after_create)
        except (DryRunBlocked, ReadOnly):
            raise
        except IdConsoleError as exc:
            if strict:
                raise
            log.warning("graph: licences for %s not assigned: %s", uid, exc)
            return [f"licences not assigned: {exc}"]
        return []

    async def _get_user(self, uid: str) -> GraphUser:
        # msgraph: loaded at the first request (a plan sends none)
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder  # noqa: PLC0415

        config = RequestConfiguration(query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=attrs_mod.USER_SELECT))
        user = await self._call(f"read user {uid}", lambda c: c.users.by_user_id(uid).get(config))
        if user is None:
            raise NotFound(f"user {uid} not found in Microsoft Graph")
        return user

    async def update_user(self, uid: str, changes: dict[str, Any]) -> None:
        """PATCH the changed properties; a `licenses` change assigns the listed SKUs the user lacks (after the
        PATCH, so that a new usageLocation is in place). Licences are never removed here: others may have
        assigned them; deprovisioning removes them."""
        known = {k: v for k, v in changes.items() if k in attrs_mod.ATTRIBUTE_FIELDS}
        if known:
            body = attrs_mod.graph_user(known, creating=False)
            await self._call(f"update user {uid}", lambda c: c.users.by_user_id(uid).patch(body))
        wanted = [str(sku).lower() for sku in changes.get("licenses") or []]
        if wanted:
            user = await self._get_user(uid)
            held = [str(lic.sku_id).lower() for lic in (user.assigned_licenses or []) if lic.sku_id]
            await self._ensure_licenses(uid, held, wanted=wanted, strict=True)

    async def deactivate_user(self, uid: str) -> dict[str, Any]:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody  # noqa: PLC0415
        from msgraph.generated.models.user import User as GraphUser  # noqa: PLC0415

        try:
            user = await self._get_user(uid)
        except NotFound:
            return {"gone": True}
        await self._call(f"disable user {uid}",
                         lambda c: c.users.by_user_id(uid).patch(GraphUser(account_enabled=False)))
        remembered: dict[str, Any] = {"deactivated_at": utcnow()}
        if self.revoke_sessions:
            await self._call(f"revoke sign-in sessions of {uid}",
                             lambda c: c.users.by_user_id(uid).revoke_sign_in_sessions.post())
        held = [lic.sku_id for lic in (user.assigned_licenses or []) if lic.sku_id]
        if self.remove_licenses and held:
            body = AssignLicensePostRequestBody(add_licenses=[], remove_licenses=held)
            await self._call(f"remove licences of {uid}", lambda c: c.users.by_user_id(uid).assign_license.post(body))
            remembered["licenses"] = sorted(str(sku).lower() for sku in held)
        return remembered

    async def reactivate_user(self, uid: str, remembered: dict[str, Any]) -> None:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.models.user import User as GraphUser  # noqa: PLC0415

        try:
            user = await self._get_user(uid)
        except NotFound:
            try:
                await self.restore_user(uid)  # deleted within the last 30 days: bring it back first
            except NotFound:
                pass  # a resent restore that had already worked, or truly gone: the read below decides
            user = await self._get_user(uid)
        await self._call(f"enable user {uid}", lambda c: c.users.by_user_id(uid).patch(GraphUser(account_enabled=True)))
        held = [str(lic.sku_id).lower() for lic in (user.assigned_licenses or []) if lic.sku_id]
        wanted = sorted(set(remembered.get("licenses") or []) | set(self.license_skus))
        await self._ensure_licenses(uid, held, wanted=wanted, strict=True)

    async def delete_user(self, uid: str) -> None:
        """Soft delete: the user stays restorable for 30 days (directory/deletedItems)."""
        try:
            await self._call(f"delete user {uid}", lambda c: c.users.by_user_id(uid).delete())
        except NotFound:
            log.info("graph: user %s already gone", uid)

    async def restore_user(self, uid: str) -> RemoteAccount:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.models.user import User as GraphUser  # noqa: PLC0415

        restored = await self._call(f"restore deleted user {uid}",
                                    lambda c: c.directory.deleted_items.by_directory_object_id(uid).restore.post())
        if not isinstance(restored, GraphUser):
            raise NotFound(f"deleted item {uid} is not a user")
        return attrs_mod.remote_account(restored)

    async def _deleted_match(self, attrs: dict[str, Any]) -> GraphUser | None:
        """The soft-deleted user that was this person's account. Entra rewrites a deleted user's UPN to the object
        id (no hyphens) followed by the original, so the match is on that rewritten form, else on `mail`, else on
        `employeeId`; the most recently deleted wins. Restoring is then by object id."""
        # msgraph: loaded at the first request (a plan sends none)
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: PLC0415

        upn = str(attrs.get("userPrincipalName") or "").lower()
        mail = str(attrs.get("mail") or "").lower()
        employee_id = str(attrs.get("employeeId") or "")
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", "mail", "employeeId", "deletedDateTime"], top=999)
        config = RequestConfiguration(query_parameters=params)
        candidates: list[tuple[int, GraphUser]] = []
        page: Any = await self._call("look up deleted users",
                                     lambda c: c.directory.deleted_items.graph_user.get(config))  # type: ignore[arg-type]
        while page:
            for user in page.value or []:
                rewritten = (str(user.id or "").replace("-", "") + upn) if upn else ""
                if rewritten and (user.user_principal_name or "").lower() in (rewritten, upn):
                    candidates.append((0, user))
                elif mail and (user.mail or "").lower() == mail:
                    candidates.append((1, user))
                elif employee_id and user.employee_id == employee_id:
                    candidates.append((2, user))
            link = page.odata_next_link
            if not link:
                break
            page = await self._call("look up deleted users",
                                    lambda c: c.directory.deleted_items.graph_user.with_url(link).get())
        if not candidates:
            return None
        best = min(rank for rank, _ in candidates)
        same = [user for rank, user in candidates if rank == best]
        return max(same, key=lambda u: u.deleted_date_time or datetime.min.replace(tzinfo=timezone.utc))

    async def list_users(self) -> AsyncIterator[RemoteAccount]:
        """Every user, following @odata.nextLink by hand (pages may be empty and still have a nextLink) and
        resending ConsistencyLevel each time. Pages are read as plain JSON: see `JsonResponseHandler`."""
        # msgraph: loaded at the first request (a plan sends none)
        from .client import plain_json  # noqa: PLC0415

        config = plain_json(users_query())
        page: Any = await self._call("list users", lambda c: c.users.get(config))
        while page:
            for doc in page.get("value") or []:
                yield attrs_mod.remote_account_from_json(doc)
            link = page.get("@odata.nextLink")
            if not link:
                break
            page = await self._call("list users", lambda c: c.users.with_url(link).get(config))

"""Active Directory connector (ldap3) with the Exchange attributes of the base schema (mail, proxyAddresses).

Accounts are linked by objectGUID (`RemoteAccount.uid`). Creation looks the person up first (employeeID,
then userPrincipalName, then a legacy account with the same sAMAccountName and name) and adopts it; else it
adds the account disabled, sets a generated password over TLS, and enables it (clearing bit 2).

Initial passwords — the one design: the connector generates a password meeting AD complexity (the
`secrets` module, 20 characters, 4 classes, no name tokens). With a `password_file` setting it is appended
there right after the DC accepted it (mode 0600, refused if others can read it; checked before anything is
created); otherwise it is returned once in `CreateResult.initial_password`, which the sync engine shows to
the operator once (CLI output or a console modal). It is never stored or logged.

Every operation goes through `_call`: the retry layer (reads are retried on transient failures, writes
only when the DC answered busy, which applied nothing), error translation, and `GuardedConnection` (ldap.py),
which stops every write unless the connector is live.

ldap3 is blocking: every operation runs in a worker thread on a pooled connection (ad/ldap.py: LdapPool, at most
`max_concurrency` connections, one thread per connection at a time).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from ldap3 import BASE
from ldap3.protocol.microsoft import extended_dn_control

from console import secrets
from console.connectors import KINDS
from console.connectors.base import Capability, ConnectionReport, CreateResult
from console.connectors.attribute_limits import AD_LIMITS, Limit, check_attributes
from console.connectors.mode import Mode, guard
from console.connectors.retry import RetryPolicy, retrying
from console.errors import IdConsoleError, TransientError
from console.models import Application, RemoteAccount, RemoteGroup, User

from console.connectors.value_limits import ValueLimits

from .config import ATTRIBUTES_VERSION, SETTINGS, VALUE_LIMITS, ADConfig, account_attributes, parse_config, warnings
from .groups import GROUP_ATTRS, GroupOps, to_group
from .ldap import LdapPool, translate
from .ops import UserOps
from .passwords import PasswordFile
from .read import USER_ATTRS, USER_FILTER, page, read_guid, search, to_account

__all__ = ["SETTINGS", "ADConnector", "warnings"]
T = TypeVar("T")


class ADConnector:
    kind: ClassVar[str] = "ad"
    capabilities: ClassVar[frozenset[Capability]] = KINDS["ad"].capabilities
    attributes_version: ClassVar[str] = ATTRIBUTES_VERSION

    def __init__(self, app: Application, *, mode: Mode = Mode.LIVE, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.cfg: ADConfig = parse_config(app)
        self.mode = mode
        self.retry = retry or RetryPolicy.from_settings(app.settings)
        self.sleep, self.clock = sleep, clock
        self.pool = LdapPool(self.cfg, app.max_concurrency, mode, self.retry.connect, self.retry.read)
        self.users = UserOps(self.cfg)
        self.groups = GroupOps(self.cfg)
        self._password_file = PasswordFile(self.cfg.password_file) if self.cfg.password_file else None

    # --- the one place for the mode, retries and errors --------------------------------------------
    async def _call(self, action: str, fn: Callable[..., T], *args: Any, write: bool) -> T:
        """Run `fn(conn, *args)` under the retry layer; a write is refused here first unless live."""
        if write:
            guard(self.mode, f"{action} in {self.app.name}", f"{self.cfg.host}:{self.cfg.port}")

        async def once() -> T:
            try:
                return await self.pool.run(fn, *args)
            except Exception as exc:
                raise translate(exc, f"{self.app.name}: {action}", self.cfg, self.secrets()) from None

        def retryable(error: TransientError) -> bool:  # a write is resent only when the DC applied nothing
            return not write or error.status is not None

        return await retrying(once, self.retry.start(clock=self.clock, sleep=self.sleep), f"{self.app.name}: {action}",
                              retryable)

    def secrets(self) -> list[str]:
        try:
            return [secrets.resolve(self.cfg.password_ref)]
        except IdConsoleError:
            return []

    # --- protocol ----------------------------------------------------------------------------------
    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        """Pure; `login_method` does not change AD attributes (AD accounts always get a password)."""
        return account_attributes(user, self.cfg)

    def account_name(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("userPrincipalName") or attrs.get("sAMAccountName") or "")

    def value_limits(self) -> ValueLimits:
        return VALUE_LIMITS
    def limits(self) -> dict[str, Limit]:
        return AD_LIMITS

    def check_attributes(self, attrs: dict[str, Any]) -> list[str]:
        """What the DC would refuse in `attrs` (attribute syntax and rangeUpper), before anything is sent."""
        return check_attributes(self.app.name, AD_LIMITS, attrs)

    async def test(self) -> ConnectionReport:
        self.retry = self.retry.for_test()
        notes = warnings(self.app)
        try:
            details = await self._call("connection test", self._probe, write=False)
        except IdConsoleError as exc:
            return ConnectionReport(False, str(exc), {"error": exc.to_dict(), "warnings": notes})
        missing = [dn for dn, ok in details.pop("ous").items() if not ok]
        details["warnings"] = notes
        if missing:
            return ConnectionReport(False, f"bound as {self.cfg.bind_user}, but missing: {'; '.join(missing)}", details)
        message = f"bound to {details.get('dc') or self.cfg.host} as {self.cfg.bind_user} over {details['transport']}"
        if not self.cfg.verify_tls:
            message += " — WARNING: TLS certificate verification is OFF"
        return ConnectionReport(True, message, details)

    def _probe(self, conn: Any) -> dict[str, Any]:
        conn.search("", "(objectClass=*)", BASE, attributes=["dnsHostName", "defaultNamingContext"])
        root = {k: (v[0] if isinstance(v, list) and v else v) for k, v in
                (conn.response[0]["attributes"] if conn.response else {}).items()}
        ous = {}
        for dn in dict.fromkeys([self.cfg.base_dn, self.cfg.users_ou, self.cfg.disabled_ou, self.cfg.groups_ou]):
            if dn:
                try:
                    ous[dn] = bool(search(conn, dn, "(objectClass=*)", ["objectGUID"], BASE))
                except Exception:  # noqa: BLE001 - noSuchObject: reported as missing
                    ous[dn] = False
        transport = "LDAPS" if self.cfg.use_ssl else ("StartTLS" if self.cfg.start_tls else "plain LDAP")
        return {"dc": str(root.get("dnsHostName") or ""), "naming_context": str(root.get("defaultNamingContext") or ""),
                "transport": transport, "verify_tls": self.cfg.verify_tls, "ous": ous}

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None:
        match, _ = await self._call("look-up", self.users.lookup, attrs, write=False)
        return to_account(match) if match else None

    async def create_user(self, attrs: dict[str, Any]) -> CreateResult:
        """Adopt or create; the initial password goes to the password file, or else into the result."""
        name = attrs.get("userPrincipalName") or attrs.get("sAMAccountName")
        guard(self.mode, f"create {name} in {self.app.name}", f"{self.cfg.host}:{self.cfg.port}")
        if self._password_file:
            await asyncio.to_thread(self._password_file.check)
        handover = self._password_file.deliver if self._password_file else None
        account, password, adopted = await self._call(f"create {name}", self.users.create, attrs, handover, write=True)
        return CreateResult.of(account, adopted=adopted, initial_password=password)

    async def update_user(self, uid: str, changes: dict[str, Any]) -> None:
        if changes:
            await self._call(f"update {uid}", self.users.update, uid, changes, write=True)

    async def deactivate_user(self, uid: str) -> dict[str, Any]:
        return await self._call(f"deactivate {uid}", self.users.deactivate, uid, write=True)

    async def reactivate_user(self, uid: str, remembered: dict[str, Any]) -> None:
        await self._call(f"reactivate {uid}", self.users.reactivate, uid, remembered or {}, write=True)

    async def delete_user(self, uid: str) -> None:
        await self._call(f"delete {uid}", self.users.delete, uid, write=True)

    async def get_user(self, uid: str) -> RemoteAccount:
        return to_account(await self._call(f"read {uid}", read_guid, uid, USER_ATTRS, write=False))

    async def _paged(self, action: str, bases: list[str], flt: str, attrs: list[str],
                     controls: list[Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Paged search over `bases` on a dedicated connection (the paging cookie belongs to it)."""
        try:
            conn = await asyncio.to_thread(self.pool.open)
        except Exception as exc:
            raise translate(exc, f"{self.app.name}: {action}", self.cfg, self.secrets()) from None
        seen: set[str] = set()
        try:
            for base in bases:
                cookie: bytes | None = None
                while True:
                    try:
                        entries, cookie = await asyncio.to_thread(page, conn, base, flt, attrs, cookie, controls)
                    except Exception as exc:
                        raise translate(exc, f"{self.app.name}: {action}", self.cfg, self.secrets()) from None
                    for entry in entries:
                        if entry["uid"] not in seen:
                            seen.add(entry["uid"])
                            yield entry
                    if not cookie:
                        break
        finally:
            await asyncio.to_thread(conn.unbind)

    async def list_users(self) -> AsyncIterator[RemoteAccount]:
        """People in the users and disabled OUs (never the whole domain: built-in accounts stay out)."""
        async for entry in self._paged("list users", self.cfg.managed_ous, USER_FILTER, USER_ATTRS):
            yield to_account(entry)

    async def list_groups(self) -> AsyncIterator[RemoteGroup]:
        async for entry in self._paged("list groups", [self.cfg.groups_ou], "(objectClass=group)", GROUP_ATTRS,
                                       [extended_dn_control()]):
            yield to_group(entry)

    async def create_group(self, name: str, description: str = "") -> RemoteGroup:
        return await self._call(f"create group {name!r}", self.groups.create, name, description, write=True)

    async def delete_group(self, uid: str) -> None:
        await self._call(f"delete group {uid}", self.users.delete, uid, "group", write=True)

    async def add_members(self, group_uid: str, member_uids: list[str]) -> None:
        if member_uids:
            await self._call(f"add members to {group_uid}", self.groups.change_members, group_uid, member_uids, True,
                             write=True)

    async def remove_members(self, group_uid: str, member_uids: list[str]) -> None:
        if member_uids:
            await self._call(f"remove members from {group_uid}", self.groups.change_members, group_uid, member_uids,
                             False, write=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.pool.close)


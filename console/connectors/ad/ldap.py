"""Blocking ldap3 plumbing for the AD connector: a small connection pool run off the event loop, the
connection class that stops writes unless the connector is live, and the one place where ldap3
exceptions become `console.errors` (their text passed through `console.redact`).

ldap3 connections are not safe for concurrent use, so each pooled connection is used by one worker
thread at a time (`asyncio.to_thread`); the pool holds at most `max_concurrency` of them. The bind
password is resolved when a connection is opened and cleared from the connection after the bind.
"""
from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from ldap3 import NONE, SIMPLE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from console import secrets
from console.connectors.mode import Mode, guard
from console.errors import (
    AlreadyExists,
    AuthFailed,
    ConfigError,
    IdConsoleError,
    NotFound,
    Rejected,
    TransientError,
    Unreachable,
)
from console.redact import redact

from .config import ADConfig

T = TypeVar("T")
# AD's sub-codes in a failed bind ("… AcceptSecurityContext error, data 52e, …")
BIND_REASONS = {"525": "no such user", "52e": "wrong password", "530": "logon not permitted at this time",
                "531": "logon not permitted from this workstation", "532": "password expired",
                "533": "account disabled", "701": "account expired", "773": "password must be reset",
                "775": "account locked out"}
IDLE_SECONDS = 120.0  # AD drops idle connections after MaxConnIdleTime (900 s); reopen well before


WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"  # the one extended operation that only reads


class GuardedConnection(Connection):
    """An ldap3 Connection on which add, modify, delete, modify_dn and extended operations (password
    changes among them) raise DryRunBlocked or ReadOnly before anything is sent, unless `mode` is live."""

    mode: Mode = Mode.LIVE
    where: str = ""

    def _write(self, operation: str, dn: Any) -> None:
        guard(self.mode, f"LDAP {operation} {dn}", self.where)

    def add(self, dn: Any, *args: Any, **kwargs: Any) -> Any:
        self._write("add", dn)
        return super().add(dn, *args, **kwargs)  # type: ignore[no-untyped-call]  # not annotated in types-ldap3

    def modify(self, dn: Any, *args: Any, **kwargs: Any) -> Any:
        self._write("modify", dn)
        return super().modify(dn, *args, **kwargs)  # type: ignore[no-untyped-call]  # not annotated in types-ldap3

    def delete(self, dn: Any, *args: Any, **kwargs: Any) -> Any:
        self._write("delete", dn)
        return super().delete(dn, *args, **kwargs)  # type: ignore[no-untyped-call]  # not annotated in types-ldap3

    def modify_dn(self, dn: Any, *args: Any, **kwargs: Any) -> Any:
        self._write("modify_dn", dn)
        return super().modify_dn(dn, *args, **kwargs)

    def extended(self, request_name: Any, *args: Any, **kwargs: Any) -> Any:
        if request_name != WHO_AM_I:
            self._write("extended operation", request_name)
        return super().extended(request_name, *args, **kwargs)


def translate(exc: Exception, action: str, cfg: ADConfig, known_secrets: list[str]) -> IdConsoleError:
    """One ldap3 exception → one console error whose title says what failed and hint what to do."""
    if isinstance(exc, IdConsoleError):
        return exc
    message = redact(_unwrap(str(getattr(exc, "message", "") or exc)), known_secrets)
    action = redact(action, known_secrets)
    where = f"{cfg.host}:{cfg.port}"
    status = getattr(exc, "result", None)
    status = status if isinstance(status, int) else None
    if isinstance(exc, lx.LDAPInvalidCredentialsResult) or \
            (isinstance(exc, lx.LDAPBindError) and "invalidCredentials" in message):
        code = re.search(r"data ([0-9a-f]{3})", message)
        reason = BIND_REASONS.get(code.group(1), "") if code else ""
        return AuthFailed(f"AD rejected the bind as {cfg.bind_user}" + (f" ({reason})" if reason else ""),
                          detail=message, status=status,
                          hint="check bind_user and the password secret (expired or locked service account?)")
    if isinstance(exc, (lx.LDAPStrongerAuthRequiredResult, lx.LDAPConfidentialityRequiredResult)) or \
            "strongerAuthRequired" in message:
        return ConfigError("the domain controller requires an encrypted connection", detail=message,
                           hint="use an ldaps://HOST:636 url, or ldap:// with start_tls=true")
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return Rejected(f"{action}: the bind account {cfg.bind_user} lacks the right to do this", detail=message,
                        status=status, hint="delegate user/group management on the configured OUs to the bind account")
    if isinstance(exc, lx.LDAPEntryAlreadyExistsResult):
        return AlreadyExists(f"{action}: the object already exists", detail=message, status=status)
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return NotFound(f"{action}: no such object in AD", detail=message, status=status,
                        hint="check base_dn and the OU settings, or whether the account was removed in AD")
    if isinstance(exc, lx.LDAPSocketOpenError):
        if "ssl" in message.lower() or "certificate" in message.lower():
            return Unreachable(f"TLS handshake with {where} failed", detail=message,
                               hint="set ca_file to the CA that issued the DC's certificate and use the name the "
                                    "certificate was issued for in url")
        return Unreachable(f"cannot connect to the domain controller at {where}", detail=message,
                           hint="check the url (host, port), DNS and firewalls")
    if isinstance(exc, lx.LDAPStartTLSError):
        return Unreachable(f"StartTLS with {where} failed", detail=message,
                           hint="set ca_file, or use ldaps://HOST:636")
    if isinstance(exc, (lx.LDAPCommunicationError, lx.LDAPResponseTimeoutError)):
        return TransientError(f"{action}: the connection to {where} was lost", detail=message,
                              hint="the operation may or may not have been applied; a rerun adopts what exists")
    if isinstance(exc, (lx.LDAPBusyResult, lx.LDAPUnavailableResult, lx.LDAPTimeLimitExceededResult,
                        lx.LDAPAdminLimitExceededResult)):
        return TransientError(f"{action}: the domain controller is busy", detail=message, status=status)
    if isinstance(exc, (lx.LDAPAttributeError, lx.LDAPObjectClassError, lx.LDAPUndefinedAttributeTypeResult)):
        return ConfigError(f"{action}: an attribute is unknown to this domain's schema", detail=message,
                           hint="Exchange-only attributes need the Exchange schema extension")
    if isinstance(exc, lx.LDAPOperationResult):
        return Rejected(f"{action}: refused by the domain controller ({exc.description})", detail=message,
                        status=status)
    return Rejected(f"{action}: LDAP error", detail=f"{type(exc).__name__}: {message}")


def _unwrap(message: str) -> str:
    """ldap3 reports socket errors as the repr of a tuple of reprs; keep the text inside."""
    inner = re.search(r"'([^']+)'", message) if message.startswith("(") else None
    return (inner.group(1) if inner else message).strip()


class LdapPool:
    """Up to `size` bound connections, each used by one thread at a time; broken ones are dropped."""

    def __init__(self, cfg: ADConfig, size: int, mode: Mode = Mode.LIVE, connect_timeout: float = 10.0,
                 read_timeout: float = 30.0) -> None:
        self.cfg, self.mode, self.read_timeout = cfg, mode, read_timeout
        self.size = max(1, size)
        self._idle: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()
        self._slots: asyncio.Semaphore | None = None
        tls = Tls(validate=ssl.CERT_REQUIRED if cfg.verify_tls else ssl.CERT_NONE, ca_certs_file=cfg.ca_file or None)
        self.server = Server(cfg.host, port=cfg.port, use_ssl=cfg.use_ssl, tls=tls, get_info=NONE,
                             connect_timeout=connect_timeout)

    def open(self) -> Connection:
        """A new bound connection (blocking)."""
        password = secrets.resolve(self.cfg.password_ref)
        conn = GuardedConnection(self.server, user=self.cfg.bind_user, password=password, authentication=SIMPLE,
                                 raise_exceptions=True, receive_timeout=max(1, int(self.read_timeout)),
                                 auto_referrals=False, return_empty_attributes=False)
        conn.mode, conn.where = self.mode, f"{self.cfg.host}:{self.cfg.port}"
        try:
            conn.open()
            if self.cfg.start_tls:
                conn.start_tls()
            conn.bind()
        except Exception:
            conn.unbind()
            raise
        finally:
            conn.password = None  # keep the secret out of long-lived objects
        if not conn.bound:
            conn.unbind()
            raise lx.LDAPBindError(f"bind not successful - {conn.result.get('description')}")
        return conn

    def _take(self) -> Connection | None:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < IDLE_SECONDS and not conn.closed:
                    return conn
                _quiet_unbind(conn)
        return None

    def _give_back(self, conn: Connection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in the calling thread on a pooled connection; a broken one is dropped (the
        connector's retry layer decides whether the operation is tried again)."""
        conn = self._take() or self.open()
        try:
            result = fn(conn, *args)
        except (lx.LDAPCommunicationError, lx.LDAPResponseTimeoutError):
            _quiet_unbind(conn)
            raise
        except BaseException:
            self._give_back(conn)
            raise
        self._give_back(conn)
        return result

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in a worker thread, at most `size` at a time."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            return await asyncio.to_thread(self.run_blocking, fn, *args)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _quiet_unbind(conn)


def _quiet_unbind(conn: Connection) -> None:
    with suppress(Exception):  # closing a broken socket must not hide the real error
        conn.unbind()

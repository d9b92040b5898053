"""AD failures become clear console errors (and test() reports them) — against a real Samba DC."""
from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE

from console.connectors import Mode, make_target
from console.connectors.ad.config import warnings
from console.errors import (
    AuthFailed,
    ConfigError,
    DryRunBlocked,
    IdConsoleError,
    Rejected,
    SecretMissing,
    TransientError,
    Unreachable,
)
from console.models import Application, User

pytestmark = pytest.mark.samba


def joiner(n: int = 1) -> User:
    return User(employeeId=f"X{n}", userName=f"x.ray{n}", givenName="Xena", familyName=f"Ray{n}")


def variant(app: Application, **settings: object) -> Application:
    return Application(name=app.name, kind="ad", settings={**app.settings, **settings}, secrets=dict(app.secrets))


async def attempt_create(app: Application) -> IdConsoleError:
    connector = make_target(app)
    try:
        with pytest.raises(IdConsoleError) as caught:
            await connector.create_user(connector.account_attributes(joiner(), "password"))
        report = await connector.test()
        assert not report.ok and report.message
        return caught.value
    finally:
        await connector.aclose()


async def test_wrong_bind_password_is_auth_failed_without_the_password(ad_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WRONG_AD_PW", "Not-The-Passw0rd")
    error = await attempt_create(Application(name="corp-ad", kind="ad", settings=ad_app.settings,
                                             secrets={"password": "env:WRONG_AD_PW"}))
    assert isinstance(error, AuthFailed) and "(wrong password)" in error.title and "bind_user" in error.hint
    assert "Not-The-Passw0rd" not in str(error)


async def test_plain_ldap_without_start_tls_is_a_config_error_pointing_to_ldaps(ad_app, samba_dc) -> None:  # type: ignore[no-untyped-def]
    app = variant(ad_app, url=samba_dc.ldap_url)
    error = await attempt_create(app)
    assert isinstance(error, ConfigError) and "ldaps://" in error.hint and "start_tls" in error.hint
    assert any("plain ldap://" in note for note in warnings(app))


async def test_start_tls_with_the_ca_file_creates_accounts(ad_app, samba_dc, ad_check) -> None:  # type: ignore[no-untyped-def]
    connector = make_target(variant(ad_app, url=samba_dc.ldap_url, start_tls=True))
    try:
        report = await connector.test()
        assert report.ok and "StartTLS" in report.message
        account = await connector.create_user(connector.account_attributes(joiner(), "password"))
        assert int(ad_check.entry(account.uid, ["userAccountControl"])["userAccountControl"][0]) == 512
    finally:
        await connector.aclose()


async def test_untrusted_certificate_is_unreachable_with_a_ca_file_hint(ad_app) -> None:  # type: ignore[no-untyped-def]
    error = await attempt_create(variant(ad_app, ca_file=""))
    assert isinstance(error, Unreachable) and "TLS" in error.title and "ca_file" in error.hint


async def test_turning_verification_off_works_but_is_always_a_warning(ad_app) -> None:  # type: ignore[no-untyped-def]
    app = variant(ad_app, ca_file="", verify_tls=False)
    connector = make_target(app)
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert report.ok and "WARNING: TLS certificate verification is OFF" in report.message
    assert any("verify_tls=False" in note for note in report.details["warnings"])
    assert any("verify_tls=False" in note for note in warnings(app))
    assert not any("verify_tls" in note for note in warnings(ad_app))


async def test_closed_port_is_unreachable(ad_app, samba_dc) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:
        probe.bind((samba_dc.host, 0))
        port = probe.getsockname()[1]
    error = await attempt_create(variant(ad_app, url=f"ldaps://{samba_dc.host}:{port}", timeout=3))
    assert isinstance(error, Unreachable) and f"{samba_dc.host}:{port}" in error.title


async def test_missing_secret_is_reported_not_crashed(ad_app) -> None:  # type: ignore[no-untyped-def]
    app = Application(name="corp-ad", kind="ad", settings=ad_app.settings, secrets={"password": "env:NO_SUCH_AD_PW"})
    error = await attempt_create(app)
    assert isinstance(error, SecretMissing) and "NO_SUCH_AD_PW" in str(error)


async def test_test_names_a_missing_ou(ad_app, samba_dc) -> None:  # type: ignore[no-untyped-def]
    connector = make_target(variant(ad_app, disabled_ou=f"OU=Nowhere,{samba_dc.base_dn}"))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok and f"OU=Nowhere,{samba_dc.base_dn}" in report.message


async def test_insufficient_rights_are_rejected_with_a_delegation_hint(ad_app, ad_ous, ad_check, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    helpdesk_dn = f"CN=helpdesk,{ad_ous['root']}"
    ad_check.conn.add(helpdesk_dn, ["top", "person", "organizationalPerson", "user"],
                      {"sAMAccountName": "helpdesk1", "userPrincipalName": "helpdesk1@idc.test",
                       "userAccountControl": 514})
    ad_check.conn.extend.microsoft.modify_password(helpdesk_dn, "Help-Desk-Pw-2024!")
    ad_check.conn.modify(helpdesk_dn, {"userAccountControl": [(MODIFY_REPLACE, ["66048"])]})
    monkeypatch.setenv("HELPDESK_PW", "Help-Desk-Pw-2024!")
    app = Application(name="corp-ad", kind="ad", settings={**ad_app.settings, "bind_user": "helpdesk1@idc.test"},
                      secrets={"password": "env:HELPDESK_PW"})
    connector = make_target(app)
    try:
        assert (await connector.test()).ok  # it can bind and read ...
        with pytest.raises(Rejected) as caught:  # ... but not create accounts
            await connector.create_user(connector.account_attributes(joiner(), "password"))
    finally:
        await connector.aclose()
    assert "lacks the right" in caught.value.title and "delegate" in caught.value.hint
    assert ad_check.find(ad_ous["users"], "(objectClass=user)") == []


async def test_password_policy_refusal_is_clear_and_leaves_no_half_created_account(ad, ad_ous, ad_check,
                                                                                   samba_dc) -> None:  # type: ignore[no-untyped-def]
    domain = samba_dc.base_dn
    ad_check.conn.modify(domain, {"minPwdLength": [(MODIFY_REPLACE, ["30"])]})  # longer than generated passwords
    try:
        with pytest.raises(Rejected) as caught:
            await ad.create_user(ad.account_attributes(joiner(), "password"))
    finally:
        ad_check.conn.modify(domain, {"minPwdLength": [(MODIFY_REPLACE, ["7"])]})
    assert "refused the initial password" in caught.value.title and "minPwdLength" in caught.value.hint
    assert "too short" in caught.value.detail
    assert ad_check.find(ad_ous["users"], "(objectClass=user)") == []  # rolled back
    account = await ad.create_user(ad.account_attributes(joiner(), "password"))  # and works again afterwards
    assert account.active


async def test_dry_run_blocks_every_write_but_reads(ad_app, ad_check, ad_ous) -> None:  # type: ignore[no-untyped-def]
    connector = make_target(ad_app, mode=Mode.DRY_RUN)
    attrs = connector.account_attributes(joiner(), "password")
    try:
        assert await connector.find_user(attrs) is None
        for write in (connector.create_user(attrs), connector.create_group("G"),
                      connector.update_user("9a7e5c1e-0000-4000-8000-000000000000", {"title": "x"}),
                      connector.deactivate_user("9a7e5c1e-0000-4000-8000-000000000000"),
                      connector.delete_user("9a7e5c1e-0000-4000-8000-000000000000")):
            with pytest.raises(DryRunBlocked):
                await write
    finally:
        await connector.aclose()
    assert ad_check.find(ad_ous["root"], "(|(objectClass=user)(objectClass=group))") == []


async def test_password_file_readable_by_others_is_refused_before_creating(ad, ad_app, ad_ous, ad_check) -> None:  # type: ignore[no-untyped-def]
    path = Path(ad_app.settings["password_file"])
    path.write_text("")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        await ad.create_user(ad.account_attributes(joiner(), "password"))
    assert ad_check.find(ad_ous["users"], "(objectClass=user)") == []
    os.chmod(path, 0o600)
    await ad.create_user(ad.account_attributes(joiner(), "password"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().count("\n") == 1


class CuttableProxy:
    """A TCP relay in front of the DC whose open connections the test can cut (a DC cannot be told to)."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.listener = socket.create_server((host, 0))
        self.address = self.listener.getsockname()
        self.target = target
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.sockets = []

    def close(self) -> None:
        self.listener.close()
        self.cut()


async def test_dropped_pooled_connection_is_replaced_for_reads_and_reported_for_writes(ad_app, samba_dc) -> None:  # type: ignore[no-untyped-def]
    proxy = CuttableProxy(samba_dc.host, (samba_dc.host, 636))
    host, port = proxy.address
    connector = make_target(variant(ad_app, url=f"ldaps://{host}:{port}"))
    try:
        account = await connector.create_user(connector.account_attributes(joiner(), "password"))
        proxy.cut()  # e.g. the DC dropped idle connections
        found = await connector.find_user({"employeeID": "X1"})
        assert found is not None and found.uid == account.uid  # read retried on a fresh connection
        proxy.cut()
        with pytest.raises(TransientError) as caught:  # a write is never blindly repeated
            await connector.update_user(account.uid, {"title": "after the cut"})
        assert "connection" in caught.value.title and "rerun" in caught.value.hint
        await connector.update_user(account.uid, {"title": "after the cut"})  # the pool has healed
        assert (await connector.get_user(account.uid)).attrs["title"] == "after the cut"
    finally:
        await connector.aclose()
        proxy.close()

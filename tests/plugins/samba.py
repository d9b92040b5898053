"""Pytest plugin: one Samba 4 AD DC per test session, a private OU tree per test, an `ad` application.

In CI (CI=true) a DC that cannot be provisioned or started fails the tests; locally they are skipped
only when Samba is not installed (or we are not root).
"""
from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls

from console.models import Application
from console.sandbox.samba import SambaDC, samba_missing

PASSWORD_ENV = "IDCONSOLE_TEST_AD_PASSWORD"
TREE_DELETE = ("1.2.840.113556.1.4.805", True, None)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    reason = samba_missing()
    if reason:
        if _in_ci():
            pytest.fail(f"CI needs a Samba AD DC: {reason}")
        pytest.skip(f"Samba AD DC unavailable: {reason}")
    dc = SambaDC(root=tmp_path_factory.mktemp("samba"))
    try:
        dc.provision()
        dc.start()
    except Exception as exc:
        dc.stop()
        pytest.fail(f"the Samba AD DC did not start: {exc}")
    os.environ[PASSWORD_ENV] = dc.admin_password
    try:
        yield dc
    finally:
        dc.stop()
        os.environ.pop(PASSWORD_ENV, None)


def admin_connection(dc: SambaDC) -> Connection:
    """A raw ldap3 connection as Administrator (verified LDAPS), to check what the connector did."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file))
    server = Server(dc.host, port=636, use_ssl=True, tls=tls, get_info=NONE)
    return Connection(server, user=dc.admin_user, password=dc.admin_password, auto_bind=True, raise_exceptions=True)


@pytest.fixture(scope="session")
def ad_admin(samba_dc: SambaDC) -> Iterator[Connection]:
    conn = admin_connection(samba_dc)
    yield conn
    conn.unbind()


@pytest.fixture
def ad_ous(samba_dc: SambaDC, ad_admin: Connection) -> Iterator[dict[str, str]]:
    """A fresh OU tree (users, disabled, groups) for one test, removed afterwards."""
    root = f"OU=t{uuid.uuid4().hex[:10]},{samba_dc.base_dn}"
    ous = {"root": root, "users": f"OU=Users,{root}", "disabled": f"OU=Disabled,{root}", "groups": f"OU=Groups,{root}"}
    for dn in ous.values():
        ad_admin.add(dn, ["top", "organizationalUnit"])
    yield ous
    ad_admin.delete(root, controls=[TREE_DELETE])


@pytest.fixture
def ad_app(samba_dc: SambaDC, ad_ous: dict[str, str], tmp_path: Path) -> Application:
    settings = samba_dc.settings(users_ou=ad_ous["users"], disabled_ou=ad_ous["disabled"], groups_ou=ad_ous["groups"],
                                 password_file=str(tmp_path / "initial-passwords.tsv"))
    return Application(name="corp-ad", kind="ad", settings=settings, secrets={"password": f"env:{PASSWORD_ENV}"},
                       max_concurrency=4)


@pytest.fixture
async def ad(ad_app: Application):  # type: ignore[no-untyped-def]
    from console.connectors import make_target

    connector = make_target(ad_app)
    yield connector
    await connector.aclose()


class ADCheck:
    """What the tests read back from the DC with raw ldap3, independently of the connector."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def entry(self, dn_or_guid: str, attrs: list[str]) -> dict | None:
        """Raw attribute values of one object (by DN or objectGUID) plus its "dn", or None."""
        base = dn_or_guid if "=" in dn_or_guid else f"<GUID={dn_or_guid}>"
        try:
            self.conn.search(base, "(objectClass=*)", BASE, attributes=attrs)
        except Exception:  # noqa: BLE001 - noSuchObject
            return None
        if not self.conn.response:
            return None
        entry = self.conn.response[0]
        values = {k: [v.decode() if k != "objectGUID" else v for v in vs]
                  for k, vs in entry["raw_attributes"].items() if vs}  # absent attributes are left out
        return {"dn": entry["dn"], **values}

    def find(self, base: str, flt: str, attrs: list[str] | None = None) -> list[dict]:
        """Every entry under `base` matching `flt` (paged), as {"dn", attribute: [str]}."""
        found = self.conn.extend.standard.paged_search(base, flt, SUBTREE, attributes=attrs or ["cn"],
                                                       paged_size=500, generator=False)
        return [{"dn": e["dn"], **{k: [v.decode() for v in vs] for k, vs in e["raw_attributes"].items()
                                   if vs and k != "objectGUID"}}
                for e in found if e.get("type") == "searchResEntry"]


@pytest.fixture
def ad_check(ad_admin: Connection) -> ADCheck:
    return ADCheck(ad_admin)

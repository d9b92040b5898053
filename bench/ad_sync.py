"""Create N users on a throw-away Samba AD DC through idconsole's AD connector and through raw ldap3,
in one run, and print both rates and their ratio (target: connector ≥ 0.8× raw).

Both sides do the same writes per user — add (disabled), set unicodePwd over LDAPS, enable — with the
same attributes; the connector also looks the person up first (adopt-before-create) and reads the new
account back (its objectGUID). Raw ldap3 runs the usual hand-written loop on one connection; the connector
runs as the sync engine drives it (asyncio, bounded by max_concurrency). The sides alternate in batches of
100 users, in rotating order, so that machine load and the growing database weigh on all alike. Usage:

    python bench/ad_sync.py [--users 1000] [--concurrency 4] [--process-model single|prefork]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ldap3 import MODIFY_REPLACE, NONE, Connection, Server, Tls  # noqa: E402

from console.connectors import make_target  # noqa: E402
from console.connectors.ad import names as ad_names  # noqa: E402
from console.connectors.ad.config import account_attributes, parse_config  # noqa: E402
from console.models import Application, User  # noqa: E402
from console.sandbox.samba import start_dc  # noqa: E402

GIVEN = ["Anna", "Ben", "Chloé", "Dario", "Eva", "Finn", "Greta", "Hugo", "Ida", "Jonas", "Kai", "Lena", "Mats",
         "Nora", "Óscar", "Paula", "Quinn", "Rosa", "Søren", "Tess"]
PASSWORD_ENV = "IDCONSOLE_BENCH_AD_PASSWORD"
BATCH = 100


def people(n: int, family: str) -> list[User]:
    """n people of one family name (each side gets its own: no side may adopt another's accounts)."""
    return [User(employeeId=f"{family.upper()}{i:05d}", userName=f"{GIVEN[i % 20].lower()}.{family.lower()}{i}",
                 givenName=GIVEN[i % 20], familyName=f"{family}{i:04d}", department="Bench", title="Tester")
            for i in range(n)]


def application(dc, ou: str, concurrency: int) -> Application:  # type: ignore[no-untyped-def]
    return Application(name="bench-ad", kind="ad", settings=dc.settings(users_ou=ou), max_concurrency=concurrency,
                       secrets={"password": f"env:{PASSWORD_ENV}"})


def raw_run(dc, ou: str, users: list[User]) -> float:  # type: ignore[no-untyped-def]
    """The hand-written baseline: one verified LDAPS connection, three writes per user."""
    cfg = parse_config(application(dc, ou, 1))
    started = time.perf_counter()
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file))
    conn = Connection(Server(dc.host, port=636, use_ssl=True, tls=tls, get_info=NONE), user=dc.admin_user,
                      password=dc.admin_password, auto_bind=True, raise_exceptions=True)
    for user in users:
        attrs = account_attributes(user, cfg)
        dn = f"CN={ad_names.rdn(attrs['cn'])[3:]},{ou}"
        payload = {k: v for k, v in attrs.items() if k != "cn" and v not in ("", [])}
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], {**payload, "userAccountControl": 514})
        conn.extend.microsoft.modify_password(dn, ad_names.generate_password([attrs["sAMAccountName"]]))
        conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [512])], "pwdLastSet": [(MODIFY_REPLACE, ["0"])]})
    elapsed = time.perf_counter() - started
    conn.unbind()
    return elapsed


async def connector_run(dc, ou: str, users: list[User], concurrency: int) -> float:  # type: ignore[no-untyped-def]
    """As the sync engine drives it: a fresh connector (its pool connects on demand), gather under the bound."""
    started = time.perf_counter()
    connector = make_target(application(dc, ou, concurrency))
    all_attrs = [connector.account_attributes(user, "password") for user in users]
    accounts = await asyncio.gather(*(connector.create_user(attrs) for attrs in all_attrs))
    elapsed = time.perf_counter() - started
    await connector.aclose()
    assert len({a.uid for a in accounts}) == len(users) and all(a.active for a in accounts)
    return elapsed


def admin_count(dc, base: str) -> int:  # type: ignore[no-untyped-def]
    conn = Connection(Server(dc.host, port=636, use_ssl=True, tls=Tls(validate=ssl.CERT_REQUIRED,
                                                                      ca_certs_file=str(dc.ca_file)), get_info=NONE),
                      user=dc.admin_user, password=dc.admin_password, auto_bind=True, raise_exceptions=True)
    found = conn.extend.standard.paged_search(base, "(&(objectClass=user)(userAccountControl=512))",
                                              attributes=["cn"], paged_size=500, generator=False)
    conn.unbind()
    return sum(1 for e in found if e.get("type") == "searchResEntry")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--process-model", default="single", choices=["single", "prefork"])
    args = parser.parse_args()

    started = time.perf_counter()
    dc = start_dc(process_model=args.process_model)
    print(f"Samba AD DC on {dc.ldaps_url}: provisioned in {dc.provision_seconds:.1f} s, "
          f"up in {time.perf_counter() - started:.1f} s ({args.process_model} process model)", flush=True)
    os.environ[PASSWORD_ENV] = dc.admin_password
    try:
        dc.create_ous("OU=Raw", "OU=Idc", "OU=Idc1")
        n = args.users
        raw_people, idc_people, seq_people = people(n, "Rawson"), people(n, "Idcson"), people(n, "Seqson")
        spent = {"raw": 0.0, "idc": 0.0, "seq": 0.0}
        runs = {
            "raw": lambda part: raw_run(dc, f"OU=Raw,{dc.base_dn}", raw_people[part]),
            "idc": lambda part: asyncio.run(connector_run(dc, f"OU=Idc,{dc.base_dn}", idc_people[part],
                                                          args.concurrency)),
            "seq": lambda part: asyncio.run(connector_run(dc, f"OU=Idc1,{dc.base_dn}", seq_people[part], 1)),
        }
        order = list(runs)
        for start in range(0, n, BATCH):
            for side in order:  # who goes first rotates: the DC is slower right after a burst of writes
                spent[side] += runs[side](slice(start, start + BATCH))
            order = order[1:] + order[:1]
            raw, idc, seq = spent["raw"], spent["idc"], spent["seq"]
            print(f"  {min(n, start + BATCH)} users each: raw {raw:.1f} s, connector {idc:.1f} s, "
                  f"sequential {seq:.1f} s",
                  flush=True)
        print(f"raw ldap3, 1 connection:                  {n} users in {raw:6.1f} s = {n / raw:6.1f} users/s")
        print(f"idconsole connector, max_concurrency={args.concurrency}: {n} users in {idc:6.1f} s = "
              f"{n / idc:6.1f} users/s")
        print(f"idconsole connector, max_concurrency=1: {n} users in {seq:6.1f} s = {n / seq:6.1f} users/s")
        for ou in ("Raw", "Idc", "Idc1"):  # every side really created its n accounts
            created = admin_count(dc, f"OU={ou},{dc.base_dn}")
            assert created == n, f"OU={ou} holds {created} accounts, expected {n}"
        print(f"ratio connector/raw: {raw / idc:.2f} (concurrency {args.concurrency}), {raw / seq:.2f} (sequential); "
              f"target >= 0.8")
        out = Path(__file__).parent / "out"
        out.mkdir(exist_ok=True)
        (out / "ad_sync.json").write_text(json.dumps({
            "users": n, "provision_s": round(dc.provision_seconds, 2), "raw_per_s": round(n / raw, 1),
            "connector_per_s": round(n / idc, 1), "connector_seq_per_s": round(n / seq, 1),
            "ratio": round(raw / idc, 2), "ratio_seq": round(raw / seq, 2), "concurrency": args.concurrency,
            "process_model": args.process_model}, indent=2))
    finally:
        dc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

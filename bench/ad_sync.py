"""Bench: the whole `idconsole sync --yes` (a subprocess: start, imports, plan, journal, links, output) of N people
into a throw-away Samba AD DC against raw ldap3 making the same writes per account — add (disabled), unicodePwd
over LDAPS, enable — in its own process on the same number of connections (one thread each), and the same group
writes (the policy's group added, its members added by modifies of 500); each side into its own OU, in alternating
order. The checkout's bytecode is written first (not timed), as an installed idconsole has it.

    python bench/ad_sync.py [--people 400] [--rounds 2] [--concurrency 4] [--process-model single|prefork]

Prints per round and in total: wall seconds, accounts/s, the ratio idconsole/raw (target >= 0.9x) and the client
CPU per account of each process (`RUSAGE_CHILDREN` around each subprocess). The connector also reads the domain's
employeeIDs and logon names once (its adopt-before-create index), each new account's objectGUID, and the members'
DNs before adding them. Stops by itself; removes the DC.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from console.sandbox.samba import start_dc  # noqa: E402
from measure import compile_checkout, idconsole_sync, timed  # noqa: E402

PASSWORD_ENV = "IDCONSOLE_BENCH_AD_PASSWORD"
GIVEN = ["Anna", "Ben", "Chloé", "Dario", "Eva", "Finn", "Greta", "Hugo", "Ida", "Jonas", "Kai", "Lena", "Mats",
         "Nora", "Óscar", "Paula", "Quinn", "Rosa", "Søren", "Tess"]

PEOPLE = """
from console.models import User
GIVEN = %r
def people(n, family):
    return [User(employeeId=f"{family.upper()}{i:05d}", userName=f"{GIVEN[i %% 20].lower()}.{family.lower()}{i}",
                 givenName=GIVEN[i %% 20], familyName=f"{family}{i:04d}", department="Bench", title="Tester")
            for i in range(n)]
""" % (GIVEN,)

# A home with N people in one group, one AD app (password login), one policy (not timed).
SETUP = PEOPLE + """
import json, sys
from console.models import Application, Group, Policy
from console.store import Store
home, settings, count, env, concurrency, family = sys.argv[1:7]
with Store.open(home) as store:
    folks = people(int(count), family)
    store.users.put_many(folks)
    store.groups.add(Group(name=f"bench-{family.lower()}", members=[u.id for u in folks]))  # groups: one OU
    store.applications.add(Application(name="bench-ad", kind="ad", settings=json.loads(settings),
                                       secrets={"password": f"env:{env}"}, max_concurrency=int(concurrency)))
    store.policies.add(Policy(name="bench", app="bench-ad", groups=[f"bench-{family.lower()}"], login_method="password"))
    store.flush()
"""

# The raw peer: ldap3 only (the attributes computed before its clock starts), `concurrency` threads, one
# verified LDAPS connection each, three writes per account; and the sync's group writes: the policy's group added
# (after a look-up by name) and its members added by one modify per 500 (as the connector's GroupOps does).
RAW = PEOPLE + """
import json, ssl, sys, threading, time
from ldap3 import MODIFY_ADD, MODIFY_REPLACE, NONE, Connection, Server, Tls
from console.connectors.ad import names as ad_names
from console.connectors.ad.config import account_attributes, parse_config
from console.connectors.ad.groups import VALUES_PER_MODIFY
from console.models import Application
settings, count, env, concurrency, family, ou = sys.argv[1:7]
import os
settings, concurrency = json.loads(settings), int(concurrency)
cfg = parse_config(Application(name="raw", kind="ad", settings=settings, secrets={"password": f"env:{env}"}))
work = []
for user in people(int(count), family):
    attrs = account_attributes(user, cfg)
    dn = f"CN={ad_names.rdn(attrs['cn'])[3:]},{ou}"
    payload = {k: v for k, v in attrs.items() if k != "cn" and v not in ("", [])}
    work.append((dn, payload, ad_names.generate_password([attrs["sAMAccountName"]])))
group = f"bench-{family.lower()}"
group_sam = ad_names.group_sam(group)
group_dn = f"{ad_names.rdn(ad_names.common_name(group, group_sam))},{cfg.groups_ou}"
started = time.perf_counter()
tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings["ca_file"])
server = Server(settings["url"].split("//")[1].split(":")[0], port=636, use_ssl=True, tls=tls, get_info=NONE)

def bind():
    return Connection(server, user=settings["bind_user"], password=os.environ[env], auto_bind=True,
                      raise_exceptions=True)

first = bind()
first.search(cfg.base_dn, f"(&(objectClass=group)(sAMAccountName={group_sam}))", attributes=["objectGUID"])
first.add(group_dn, ["top", "group"], {"sAMAccountName": group_sam, "groupType": ad_names.GLOBAL_SECURITY_GROUP})

def run(part):
    conn = bind()
    for dn, payload, password in part:
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], {**payload, "userAccountControl": 514})
        conn.extend.microsoft.modify_password(dn, password)
        conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [512])], "pwdLastSet": [(MODIFY_REPLACE, ["0"])]})
    conn.unbind()

threads = [threading.Thread(target=run, args=(work[i::concurrency],)) for i in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
members = [dn for dn, _, _ in work]
for start in range(0, len(members), VALUES_PER_MODIFY):
    first.modify(group_dn, {"member": [(MODIFY_ADD, members[start:start + VALUES_PER_MODIFY])]})
first.unbind()
print(json.dumps({"writes_s": time.perf_counter() - started}))
"""


def enabled_count(dc, base: str) -> int:  # type: ignore[no-untyped-def]
    import ssl

    from ldap3 import NONE, Connection, Server, Tls
    conn = Connection(Server(dc.host, port=636, use_ssl=True, tls=Tls(validate=ssl.CERT_REQUIRED,
                                                                      ca_certs_file=str(dc.ca_file)), get_info=NONE),
                      user=dc.admin_user, password=dc.admin_password, auto_bind=True, raise_exceptions=True)
    found = conn.extend.standard.paged_search(base, "(&(objectClass=user)(userAccountControl=512))",
                                              attributes=["cn"], paged_size=500, generator=False)
    conn.unbind()
    return sum(1 for e in found if e.get("type") == "searchResEntry")


def main() -> int:
    import json
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--process-model", default="single", choices=["single", "prefork"])
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on a process after this many seconds")
    args = parser.parse_args()
    started = time.perf_counter()
    compile_checkout()  # as installed: no process compiles the modules again
    dc = start_dc(process_model=args.process_model)
    print(f"Samba AD DC on {dc.ldaps_url}: up in {time.perf_counter() - started:.1f} s", flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), PASSWORD_ENV: dc.admin_password, "NO_COLOR": "1"}
    wall: dict[str, list[float]] = {"raw": [], "idconsole": []}
    cpu: dict[str, list[float]] = {"raw": [], "idconsole": []}
    try:
        with tempfile.TemporaryDirectory(prefix="idconsole-bench-") as tmp:
            for n in range(args.rounds):
                order = ("raw", "idconsole") if n % 2 == 0 else ("idconsole", "raw")
                for side in order:
                    ou_name = f"{side.capitalize()}{n}"
                    dc.create_ous(f"OU={ou_name}")
                    ou = f"OU={ou_name},{dc.base_dn}"
                    settings = json.dumps(dc.settings(users_ou=ou))
                    family = f"{side[:3].capitalize()}{'abcdefghij'[n % 10]}son"
                    if side == "raw":
                        took, used, _ = timed([sys.executable, "-c", RAW, settings, str(args.people), PASSWORD_ENV,
                                               str(args.concurrency), family, ou], env, args.timeout)
                    else:
                        took, used = idconsole_sync(Path(tmp) / f"home-{n}", env, SETUP,
                                                    [settings, str(args.people), PASSWORD_ENV, str(args.concurrency),
                                                     family], "bench-ad", args.timeout)
                    created = enabled_count(dc, ou)
                    if created != args.people:
                        print(f"error: {side} left {created} enabled accounts in {ou}, expected {args.people}",
                              file=sys.stderr)
                        return 1
                    wall[side].append(took)
                    cpu[side].append(used)
                    print(f"round {n + 1} {side:<9} {args.people} accounts in {took:6.2f} s = "
                          f"{args.people / took:6.1f}/s, CPU {1000 * used / args.people:.2f} ms/account", flush=True)
    finally:
        dc.stop()
    total = {side: sum(v) for side, v in wall.items()}
    per = {side: 1000 * sum(v) / (args.people * args.rounds) for side, v in cpu.items()}
    print(f"whole idconsole sync: {total['idconsole']:6.2f} s, raw ldap3 process: {total['raw']:6.2f} s over "
          f"{args.rounds} round(s), {args.concurrency} connection(s)")
    print(f"ratio idconsole/raw (speed): {total['raw'] / total['idconsole']:5.2f}x (target >= 0.90x)")
    print(f"client CPU per account: idconsole {per['idconsole']:.2f} ms, raw {per['raw']:.2f} ms, "
          f"ratio {per['idconsole'] / per['raw']:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

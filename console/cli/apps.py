"""`idconsole apps …`: applications — targets (Atlassian, AD, Microsoft 365) and sources (Bitbucket)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli.output import confirmed_removal, emit_json, emit_table, run_async
from console.secrets import env_ref
from console.service import Service, parse_pairs

APP_FLAGS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    # kind: [(flag, setting or secrets.NAME, argparse kwargs)]
    "atlassian": [
        ("--base-url", "base_url", {"required": True, "help": "directory base URL …/scim/directory/{id}"}),
        ("--token-env", "secrets.token", {"help": "environment variable holding the directory API key"}),
        ("--token-keyring", "secrets.token@keyring", {"help": "keyring entry SERVICE/NAME holding the API key"}),
        ("--client-id", "client_id", {"help": "OAuth client id (instead of an API key)"}),
        ("--client-secret-env", "secrets.client_secret", {}),
        ("--token-url", "token_url", {}),
        ("--timeout", "timeout", {"type": float}),
    ],
    "ad": [
        ("--url", "url", {"required": True, "help": "ldaps://HOST:PORT (ldap:// with --start-tls)"}),
        ("--bind-user", "bind_user", {"required": True}),
        ("--password-env", "secrets.password", {"required": True}),
        ("--base-dn", "base_dn", {"required": True}),
        ("--users-ou", "users_ou", {"required": True}),
        ("--disabled-ou", "disabled_ou", {}),
        ("--groups-ou", "groups_ou", {}),
        ("--upn-suffix", "upn_suffix", {}),
        ("--mail-domain", "mail_domain", {}),
        ("--ca-file", "ca_file", {}),
        ("--no-verify-tls", "verify_tls=false", {"action": "store_true", "help": "DANGEROUS: do not verify the DC's certificate"}),
        ("--start-tls", "start_tls", {"action": "store_true"}),
        ("--sam-format", "sam_format", {}),
        ("--password-file", "password_file", {"help": "append initial passwords here (mode 0600) instead of showing them"}),
    ],
    "graph": [
        ("--tenant-id", "tenant_id", {"required": True}),
        ("--client-id", "client_id", {"required": True}),
        ("--secret-env", "secrets.client_secret", {"required": True}),
        ("--base-url", "base_url", {}),
        ("--authority", "authority", {}),
        ("--usage-location", "usage_location", {}),
        ("--license-sku", "license_skus", {"action": "append"}),
        ("--upn-suffix", "upn_suffix", {}),
    ],
    "bitbucket": [
        ("--workspace", "workspace", {"required": True}),
        ("--client-id", "client_id", {}),
        ("--secret-env", "secrets.client_secret", {}),
        ("--base-url", "base_url", {}),
        ("--token-url", "token_url", {}),
        ("--email", "email", {"help": "Atlassian account e-mail, with --api-token-env"}),
        ("--api-token-env", "secrets.api_token", {}),
    ],
}
def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add(svc: Service, a: argparse.Namespace) -> int:
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for flag, target, _ in APP_FLAGS[a.kind]:
        value = getattr(a, _dest(flag), None)
        if value in (None, False):
            continue
        if target.startswith("secrets."):
            name = target.split(".", 1)[1]
            if name.endswith("@keyring"):
                secrets[name.split("@")[0]] = f"keyring:{value}"
            else:
                secrets[name] = env_ref(str(value))
        elif "=" in target:
            key, literal = target.split("=")
            settings[key] = literal == "true"
        else:
            settings[target] = value
    app = svc.add_app(a.kind, a.name, settings, secrets)
    if app.settings.get("verify_tls") is False:
        print("warning: TLS certificate verification is OFF for this application", file=sys.stderr)
    print(f"added {app.kind} application {app.name}; check it with: idconsole apps test {app.name}")
    return 0


def list_(svc: Service, a: argparse.Namespace) -> int:
    apps = svc.apps()
    if a.json:
        emit_json([x.to_doc() for x in apps])
    else:
        rows = []
        for x in apps:
            test = x.last_test
            health = "-" if not test else ("ok" if test.get("ok") else "FAILED") + f" {test.get('time', '')}"
            rows.append([x.name, x.kind, x.deprovision, health, x.last_run.get("time", "-")])
        emit_table(rows, ["name", "kind", "deprovision", "last test", "last run"])
    return 0


def show(svc: Service, a: argparse.Namespace) -> int:
    app = svc.app(a.name)
    if a.json:
        emit_json(app.to_doc())
        return 0
    doc = app.to_doc()
    for key in ("name", "kind", "deprovision", "max_concurrency", "threshold_count", "threshold_percent"):
        print(f"{key:>18}: {doc[key]}")
    for key, value in app.settings.items():
        print(f"{key:>18}: {value}")
    for key, ref in app.secrets.items():
        print(f"{key:>18}: <{ref}>")
    print(f"{'features':>18}: " + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in app.features.items()))
    if app.last_test:
        print(f"{'last test':>18}: {'ok' if app.last_test.get('ok') else 'FAILED'} {app.last_test.get('time')} "
              f"{app.last_test.get('message')}")
    return 0


def test(svc: Service, a: argparse.Namespace) -> int:
    report = run_async(svc.test_app(a.name))
    if a.json:
        emit_json({"ok": report.ok, "message": report.message, "details": report.details})
    else:
        print(("ok: " if report.ok else "FAILED: ") + report.message)
        for key, value in report.details.items():
            print(f"  {key}: {value}")
    return 0 if report.ok else 1


def set_(svc: Service, a: argparse.Namespace) -> int:
    app = svc.set_app(a.name, parse_pairs(a.pairs, "setting", "KEY=VALUE", "idconsole apps set NAME deprovision=delete"))
    print(f"saved {app.name}")
    return 0


def delete(svc: Service, a: argparse.Namespace) -> int:
    app = svc.app(a.name)
    return confirmed_removal(a.yes, f"Remove application {app.name} and forget its links (no remote change)?",
                             lambda: svc.delete_app(a.name, confirm=True), f"removed {app.name}")


def register(sub: Any, cmd: Any, common: argparse.ArgumentParser) -> None:
    apps = sub.add_parser("apps", help="applications (targets and sources)").add_subparsers(dest="sub", required=True)
    cmd(apps, "list", list_, "list applications with their health")
    kinds = cmd(apps, "add", add, "add an application", write=True).add_subparsers(dest="kind", required=True)
    for kind, flags in APP_FLAGS.items():
        p = kinds.add_parser(kind, parents=[common], help=f"add a {kind} application")
        p.add_argument("name")
        for flag, _, kwargs in flags:
            p.add_argument(flag, **kwargs)
    p = cmd(apps, "show", show, "one application's settings (secret references only)")
    p.add_argument("name")
    p = cmd(apps, "test", test, "test the connection; exit 0 only when it works", write=True)
    p.add_argument("name")
    p = cmd(apps, "set", set_, "change settings: KEY=VALUE …", write=True)
    p.add_argument("name")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    p = cmd(apps, "delete", delete, "remove an application from the state (no remote change)", write=True)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

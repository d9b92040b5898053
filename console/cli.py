"""The headless command line (see CLI.md): the same service calls as the console, for cron and scripts.

Exit codes: 0 ok, 1 the run had failures, 2 bad input or configuration. Errors go to stderr with
what was wrong and what to do; `--json` output goes to stdout only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from console import __version__
from console.errors import BadInput, IdConsoleError, NotConfigured
from console.secrets import env_ref
from console.service import Service
from console.store import Store

Handler = Callable[[Service, argparse.Namespace], int]
WRITE_COMMANDS = {"import", "add", "edit", "delete", "create", "add-member", "remove-member", "set", "enable",
                  "disable", "sync", "rename"}


# ---- output ---------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=_default).decode() + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "to_doc"):
        return obj.to_doc()
    if hasattr(obj, "__dict__"):
        return obj.__dict__
    raise TypeError


def emit_table(rows: list[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def user_row(svc: Service, user: Any) -> list[Any]:
    return [user.key(svc.store.primary_key), user.userName, user.displayName, user.email, user.department, user.status]


# ---- people ---------------------------------------------------------------------------------
def users_import(svc: Service, a: argparse.Namespace) -> int:
    result = svc.import_users(a.file, dry_run=a.dry_run)
    if a.json:
        emit_json(result.to_dict())
    else:
        verb = "would be" if a.dry_run else "were"
        print(f"{len(result.created)} created, {len(result.updated)} updated, {len(result.unchanged)} unchanged "
              f"({verb} written), {len(result.errors)} rejected")
        for error in result.errors:
            print(f"  {error}", file=sys.stderr)
    return 1 if result.errors else 0


def users_list(svc: Service, a: argparse.Namespace) -> int:
    users = svc.users(a.filter or "")
    if a.json:
        emit_json([u.to_doc() for u in users])
    else:
        emit_table([user_row(svc, u) for u in users], [svc.store.primary_key, "userName", "displayName", "email", "department", "status"])
    return 0


def users_show(svc: Service, a: argparse.Namespace) -> int:
    user = svc.user(a.user)
    links = [link for link in svc.store.links if link.kind == "user" and link.local_id == user.id]
    groups = [g.name for g in svc.store.groups if user.id in g.members]
    if a.json:
        emit_json({**user.to_doc(), "groups": groups, "accounts": [link.to_doc() for link in links]})
        return 0
    for key, value in user.to_doc().items():
        if value not in ("", [], {}):
            print(f"{key:>12}: {value}")
    print(f"{'groups':>12}: {', '.join(groups) or '-'}")
    for link in links:
        print(f"{'account':>12}: {link.app}: {link.remote_name} ({link.state}, id {link.remote_id})")
    return 0


USER_FIELDS = ("given_name", "family_name", "display_name", "email", "department", "title", "manager", "status")


def _user_fields(a: argparse.Namespace) -> dict[str, Any]:
    camel = {"given_name": "givenName", "family_name": "familyName", "display_name": "displayName"}
    return {camel.get(f, f): getattr(a, f) for f in USER_FIELDS if getattr(a, f, None) is not None}


def users_add(svc: Service, a: argparse.Namespace) -> int:
    user = svc.add_user(employeeId=a.employee_id, userName=a.user_name, **_user_fields(a))
    emit_json(user.to_doc()) if a.json else print(f"added {user.label()} ({user.displayName})")
    return 0


def users_edit(svc: Service, a: argparse.Namespace) -> int:
    user = svc.edit_user(a.user, **_user_fields(a))
    emit_json(user.to_doc()) if a.json else print(f"saved {user.label()}")
    return 0


def users_delete(svc: Service, a: argparse.Namespace) -> int:
    user = svc.user(a.user)
    if not a.yes and not confirm(f"Delete {user.label()} ({user.displayName}) from the local state? "
                                 "Their accounts are deprovisioned by the next sync."):
        print("nothing deleted")
        return 2
    svc.delete_user(a.user, confirm=True)
    print(f"deleted {user.label()}")
    return 0


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise BadInput("confirmation needed but there is no terminal", hint="pass --yes to confirm")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# ---- groups ---------------------------------------------------------------------------------
def groups_list(svc: Service, a: argparse.Namespace) -> int:
    groups = svc.groups()
    if a.json:
        emit_json([{**g.to_doc(), "members": [u.label() for u in svc.members(g)]} for g in groups])
    else:
        emit_table([[g.name, len(g.members), g.description] for g in groups], ["name", "members", "description"])
    return 0


def groups_create(svc: Service, a: argparse.Namespace) -> int:
    group = svc.create_group(a.name, a.description or "")
    print(f"created group {group.name}")
    return 0


def groups_delete(svc: Service, a: argparse.Namespace) -> int:
    group = svc.group(a.name)
    if not a.yes and not confirm(f"Delete group {group.name} ({len(group.members)} members)?"):
        print("nothing deleted")
        return 2
    svc.delete_group(a.name, confirm=True)
    print(f"deleted group {group.name}")
    return 0


def groups_members(add: bool) -> Handler:
    def run(svc: Service, a: argparse.Namespace) -> int:
        group = svc.change_members(a.name, a.users, add=add)
        print(f"{group.name}: {len(group.members)} members")
        return 0

    return run


# ---- applications ---------------------------------------------------------------------------
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


def apps_add(svc: Service, a: argparse.Namespace) -> int:
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
                secrets[name] = env_ref(value)
        elif "=" in target:
            key, literal = target.split("=")
            settings[key] = literal == "true"
        else:
            settings[target] = value
    if a.kind == "atlassian" and "token" not in secrets and "client_secret" not in secrets:
        raise BadInput("an Atlassian directory needs --token-env VAR (or --client-id with --client-secret-env)",
                             hint="the API key is shown once when the directory is created in admin.atlassian.com")
    if a.kind == "bitbucket" and not secrets:
        raise BadInput("a Bitbucket source needs --client-id with --secret-env, or --email with --api-token-env")
    if a.kind == "bitbucket":
        settings["auth"] = "api_token" if "api_token" in secrets else "oauth"
    app = svc.add_app(a.kind, a.name, settings, secrets)
    if settings.get("verify_tls") is False:
        print("warning: TLS certificate verification is OFF for this application", file=sys.stderr)
    print(f"added {app.kind} application {app.name}; check it with: idconsole apps test {app.name}")
    return 0


def apps_list(svc: Service, a: argparse.Namespace) -> int:
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


def apps_show(svc: Service, a: argparse.Namespace) -> int:
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
        print(f"{'last test':>18}: {'ok' if app.last_test.get('ok') else 'FAILED'} {app.last_test.get('time')} {app.last_test.get('message')}")
    return 0


def apps_test(svc: Service, a: argparse.Namespace) -> int:
    report = asyncio.run(svc.test_app(a.name))
    if a.json:
        emit_json({"ok": report.ok, "message": report.message, "details": report.details})
    else:
        print(("ok: " if report.ok else "FAILED: ") + report.message)
        for key, value in report.details.items():
            print(f"  {key}: {value}")
    return 0 if report.ok else 1


def apps_set(svc: Service, a: argparse.Namespace) -> int:
    pairs = {}
    for item in a.pairs:
        key, sep, value = item.partition("=")
        if not sep:
            raise BadInput(f"{item!r} is not KEY=VALUE", hint="e.g. idconsole apps set NAME deprovision=delete")
        pairs[key.strip()] = value.strip()
    app = svc.set_app(a.name, pairs)
    print(f"saved {app.name}")
    return 0


def apps_delete(svc: Service, a: argparse.Namespace) -> int:
    app = svc.app(a.name)
    if not a.yes and not confirm(f"Remove application {app.name} and forget its links (no remote change)?"):
        return 2
    svc.delete_app(a.name, confirm=True)
    print(f"removed {app.name}")
    return 0


# ---- policies -------------------------------------------------------------------------------
def policies_list(svc: Service, a: argparse.Namespace) -> int:
    policies = svc.policies()
    if a.json:
        emit_json([{**p.to_doc(), "in_scope": len(svc.in_scope(p))} for p in policies])
    else:
        emit_table([[p.name, p.app, ", ".join(p.groups), p.login_method, "yes" if p.enabled else "no", len(svc.in_scope(p))]
                    for p in policies], ["name", "app", "groups", "login", "enabled", "in scope"])
    return 0


def policies_create(svc: Service, a: argparse.Namespace) -> int:
    policy = svc.create_policy(a.name, a.app, a.group, a.login_method)
    print(f"created policy {policy.name}: {len(svc.in_scope(policy))} people in scope of {policy.app}")
    return 0


def policies_toggle(enabled: bool) -> Handler:
    def run(svc: Service, a: argparse.Namespace) -> int:
        policy = svc.set_policy_enabled(a.name, enabled)
        print(f"{policy.name} {'enabled' if enabled else 'disabled'}")
        return 0

    return run


def policies_delete(svc: Service, a: argparse.Namespace) -> int:
    policy = svc.policy(a.name)
    if not a.yes and not confirm(f"Delete policy {policy.name}? Its accounts are deprovisioned by the next sync."):
        return 2
    svc.delete_policy(a.name, confirm=True)
    print(f"deleted policy {policy.name}")
    return 0


# ---- engine, inbound, report (delegated) ----------------------------------------------------
def _delegate(module: str, func: str) -> Handler:
    def run(svc: Service, a: argparse.Namespace) -> int:
        import importlib

        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                raise NotConfigured(f"`{a.command}` is not available in this build",
                                    hint="reinstall idconsole: ./scripts/test or pip install -e .") from None
            raise
        return int(getattr(mod, func)(svc, a))

    return run


# ---- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    def options(suppress: bool) -> argparse.ArgumentParser:
        # sub-commands SUPPRESS their defaults so that `idconsole --home X users list` keeps X
        extra = {"default": argparse.SUPPRESS} if suppress else {}
        opts = argparse.ArgumentParser(add_help=False)
        opts.add_argument("--home", help="state directory (default: $IDCONSOLE_HOME or the platform data dir)", **extra)
        opts.add_argument("--json", action="store_true", help="machine-readable output", **extra)
        opts.add_argument("--readonly", action="store_true", help="auditor mode: no change is accepted", **extra)
        return opts

    common = options(suppress=True)
    parser = argparse.ArgumentParser(prog="idconsole", parents=[options(suppress=False)],
                                     description="Identity provisioning console. Without a command, starts the console.")
    parser.add_argument("--version", action="version", version=f"idconsole {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(parent: Any, name: str, handler: Handler, help: str = "", **kw: Any) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], help=help, description=help, **kw)
        p.set_defaults(handler=handler)
        return p

    demo = sub.add_parser("demo", parents=[common], help="the console on a temporary home with sample data and local sandboxes")
    demo.add_argument("--keep", action="store_true", help="keep the temporary home afterwards")
    demo.add_argument("--headless", action="store_true", help="prepare the demo, print where it is, and wait (no console)")
    demo.add_argument("--no-ad", action="store_true", help="skip the Samba AD DC even when Samba is installed")
    demo.set_defaults(handler=None, command="demo")

    users = sub.add_parser("users", help="people in the local state").add_subparsers(dest="sub", required=True)
    p = cmd(users, "import", users_import, "load people from a .csv or .json file")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true")
    p = cmd(users, "list", users_list, "list people")
    p.add_argument("--filter")
    p = cmd(users, "show", users_show, "one person, their groups and accounts")
    p.add_argument("user")
    for name, handler in (("add", users_add), ("edit", users_edit)):
        p = cmd(users, name, handler, f"{name} a person")
        if name == "add":
            p.add_argument("--employee-id", required=True)
            p.add_argument("--user-name", required=True)
        else:
            p.add_argument("user")
        for field in USER_FIELDS:
            if field == "status" and name == "add":
                continue
            p.add_argument("--" + field.replace("_", "-"), required=(name == "add" and field in ("given_name", "family_name")))
    p = cmd(users, "delete", users_delete, "remove a person (their accounts are deprovisioned by the next sync)")
    p.add_argument("user")
    p.add_argument("--yes", action="store_true")

    groups = sub.add_parser("groups", help="local groups").add_subparsers(dest="sub", required=True)
    cmd(groups, "list", groups_list, "list groups")
    p = cmd(groups, "create", groups_create, "create a group")
    p.add_argument("name")
    p.add_argument("--description")
    p = cmd(groups, "delete", groups_delete, "delete a group")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    for name, add in (("add-member", True), ("remove-member", False)):
        p = cmd(groups, name, groups_members(add), f"{name.replace('-', ' ')}s")
        p.add_argument("name")
        p.add_argument("users", nargs="+", metavar="USER")

    apps = sub.add_parser("apps", help="applications (targets and sources)").add_subparsers(dest="sub", required=True)
    cmd(apps, "list", apps_list, "list applications with their health")
    add = cmd(apps, "add", apps_add, "add an application").add_subparsers(dest="kind", required=True)
    for kind, flags in APP_FLAGS.items():
        p = add.add_parser(kind, parents=[common], help=f"add a {kind} application")
        p.add_argument("name")
        for flag, _, kwargs in flags:
            p.add_argument(flag, **kwargs)
    p = cmd(apps, "show", apps_show, "one application's settings (secret references only)")
    p.add_argument("name")
    p = cmd(apps, "test", apps_test, "test the connection; exit 0 only when it works")
    p.add_argument("name")
    p = cmd(apps, "set", apps_set, "change settings: KEY=VALUE …")
    p.add_argument("name")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    p = cmd(apps, "delete", apps_delete, "remove an application from the state (no remote change)")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    policies = sub.add_parser("policies", help="who gets an account where").add_subparsers(dest="sub", required=True)
    cmd(policies, "list", policies_list, "list policies")
    p = cmd(policies, "create", policies_create, "bind an application to groups")
    p.add_argument("name")
    p.add_argument("--app", required=True)
    p.add_argument("--group", action="append", required=True)
    p.add_argument("--login-method", choices=("sso", "password"), default="sso")
    for name, handler in (("enable", policies_toggle(True)), ("disable", policies_toggle(False))):
        p = cmd(policies, name, handler, f"{name} a policy")
        p.add_argument("name")
    p = cmd(policies, "delete", policies_delete, "delete a policy")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    imp = sub.add_parser("import", help="inbound: fetch, map, upsert people").add_subparsers(dest="sub", required=True)
    p = cmd(imp, "bitbucket", _delegate("console.inbound.commands", "import_bitbucket"), "import a Bitbucket workspace's members")
    p.add_argument("app")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--allow-deletes", type=int, default=None)

    from console.inbound.config_commands import add_parsers as inbound_parsers

    inbound_parsers(sub, cmd)

    p = cmd(sub, "plan", _delegate("console.sync.commands", "plan_command"), "what a sync would do, with reasons")
    p.add_argument("--app")
    p.add_argument("--reconcile", action="store_true", help="read the targets too: orphans and drift")
    p = cmd(sub, "sync", _delegate("console.sync.commands", "sync_command"), "apply the plan to the targets")
    p.add_argument("--app")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true")
    p.add_argument("--allow-deletes", type=int, default=None, metavar="N")
    p = cmd(sub, "report", _delegate("console.report_command", "report_command"), "the provisioning report")
    p.add_argument("--user")
    p.add_argument("--app")
    p.add_argument("--since")
    p.add_argument("--from", dest="start")
    p.add_argument("--to", dest="end")
    p.add_argument("--action")
    p.add_argument("--status")
    p.add_argument("--run")
    p.add_argument("--limit", type=int)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--output", "-o", help="write the export to this file")
    return parser


WRITES = {("users", "import"), ("users", "add"), ("users", "edit"), ("users", "delete"), ("groups", "create"),
          ("groups", "delete"), ("groups", "add-member"), ("groups", "remove-member"), ("apps", "add"), ("apps", "set"),
          ("apps", "delete"), ("apps", "test"), ("policies", "create"), ("policies", "enable"), ("policies", "disable"),
          ("policies", "delete"), ("import", "bitbucket"), ("sync", None), ("endpoints", "set"), ("endpoints", "test"),
          ("endpoints", "delete"), ("mapping", "set")}


def is_write(a: argparse.Namespace) -> bool:
    if getattr(a, "dry_run", False):
        return False
    return (a.command, getattr(a, "sub", None)) in WRITES


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        if a.command is None or a.command == "demo":
            return run_console(a)
        readonly = a.readonly or not is_write(a)
        with Store.open(a.home, readonly=readonly, lock_wait=0 if readonly else 5.0) as store:
            svc = Service(store)
            return a.handler(svc, a)
    except IdConsoleError as exc:
        print(f"error: {exc.title}", file=sys.stderr)
        if exc.detail:
            print(f"  {exc.detail}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `idconsole … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_console(a: argparse.Namespace) -> int:
    if a.command == "demo":
        from console.demo import run_demo

        return run_demo(a)
    from screens.app import run_app

    return run_app(home=Path(a.home) if a.home else None, readonly=a.readonly)

"""`idconsole policies …`: which groups get an account in which application, and how they log in."""
from __future__ import annotations

import argparse
from typing import Any

from console.cli.output import confirmed_removal, emit_json, emit_table
from console.service import Service


def list_(svc: Service, a: argparse.Namespace) -> int:
    policies = svc.policies()
    if a.json:
        emit_json([{**p.to_doc(), "in_scope": len(svc.in_scope(p))} for p in policies])
    else:
        emit_table([[p.name, p.app, ", ".join(p.groups), p.login_method, "yes" if p.enabled else "no",
                     len(svc.in_scope(p))] for p in policies],
                   ["name", "app", "groups", "login", "enabled", "in scope"])
    return 0


def create(svc: Service, a: argparse.Namespace) -> int:
    policy = svc.create_policy(a.name, a.app, a.group, a.login_method)
    print(f"created policy {policy.name}: {len(svc.in_scope(policy))} people in scope of {policy.app}")
    return 0


def edit(svc: Service, a: argparse.Namespace) -> int:
    policy = svc.edit_policy(a.name, new_name=a.rename, app=a.app, groups=a.group, login_method=a.login_method)
    print(f"saved policy {policy.name}: {len(svc.in_scope(policy))} people in scope of {policy.app}; "
          "the next sync applies the change")
    return 0


def toggle(enabled: bool) -> Any:
    def run(svc: Service, a: argparse.Namespace) -> int:
        policy = svc.set_policy_enabled(a.name, enabled)
        print(f"{policy.name} {'enabled' if enabled else 'disabled'}")
        return 0

    return run


def delete(svc: Service, a: argparse.Namespace) -> int:
    policy = svc.policy(a.name)
    return confirmed_removal(a.yes, f"Delete policy {policy.name}? Its accounts are deprovisioned by the next sync.",
                             lambda: svc.delete_policy(a.name, confirm=True), f"deleted policy {policy.name}")


def register(sub: Any, cmd: Any) -> None:
    policies = sub.add_parser("policies", help="who gets an account where").add_subparsers(dest="sub", required=True)
    cmd(policies, "list", list_, "list policies")
    p = cmd(policies, "create", create, "bind an application to groups", write=True)
    p.add_argument("name")
    p.add_argument("--app", required=True)
    p.add_argument("--group", action="append", required=True)
    p.add_argument("--login-method", choices=("sso", "password"), default="sso")
    p = cmd(policies, "edit", edit, "change a policy (--group replaces its groups)", write=True)
    p.add_argument("name")
    p.add_argument("--rename", metavar="NEW_NAME")
    p.add_argument("--app")
    p.add_argument("--group", action="append")
    p.add_argument("--login-method", choices=("sso", "password"))
    for name, handler in (("enable", toggle(True)), ("disable", toggle(False))):
        p = cmd(policies, name, handler, f"{name} a policy", write=True)
        p.add_argument("name")
    p = cmd(policies, "delete", delete, "delete a policy", write=True)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

"""`idconsole groups …`: local groups and their members."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli.output import confirmed_removal, emit_json, emit_table
from console.service import Service


def list_(svc: Service, a: argparse.Namespace) -> int:
    groups = svc.groups()
    if a.json:
        emit_json([{**g.to_doc(), "members": [u.label() for u in svc.members(g)]} for g in groups])
    else:
        emit_table([[g.name, len(g.members), g.rule, g.description] for g in groups],
                   ["name", "members", "rule", "description"])
    return 0


def create(svc: Service, a: argparse.Namespace) -> int:
    group = svc.create_group(a.name, a.description or "", rule=a.rule)
    extra = f" with rule {group.rule}: {len(group.members)} members" if group.rule else ""
    print(f"created group {group.name}{extra}")
    return 0


def set_rule(svc: Service, a: argparse.Namespace) -> int:
    if a.clear == (a.rule is not None):
        print("error: give --rule EXPR or --clear", file=sys.stderr)
        return 2
    group = svc.set_group_rule(a.name, None if a.clear else a.rule)
    state = f"rule {group.rule}" if group.rule else "no rule (members are managed by hand)"
    print(f"{group.name}: {state}; {len(group.members)} members")
    return 0


def preview_rule(svc: Service, a: argparse.Namespace) -> int:
    preview = svc.preview_rule(a.rule, a.limit)
    if a.json:
        emit_json(preview.to_dict())
    else:
        print(f"{preview.count} people match {preview.rule}")
        emit_table([[u.label(), u.displayName, u.status] for u in preview.people], ["person", "name", "status"])
    return 0


def delete(svc: Service, a: argparse.Namespace) -> int:
    group = svc.group(a.name)
    return confirmed_removal(a.yes, f"Delete group {group.name} ({len(group.members)} members)?",
                             lambda: svc.delete_group(a.name, confirm=True), f"deleted group {group.name}")


def members(add: bool) -> Any:
    def run(svc: Service, a: argparse.Namespace) -> int:
        group = svc.change_members(a.name, a.users, add=add)
        print(f"{group.name}: {len(group.members)} members")
        return 0

    return run


def register(sub: Any, cmd: Any) -> None:
    groups = sub.add_parser("groups", help="local groups").add_subparsers(dest="sub", required=True)
    cmd(groups, "list", list_, "list groups")
    p = cmd(groups, "create", create, "create a group", write=True)
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--rule", help='members follow this rule, e.g. \'role == "owner"\' (see docs/rules.md)')
    p = cmd(groups, "set-rule", set_rule, "change or clear a group's rule", write=True)
    p.add_argument("name")
    p.add_argument("--rule")
    p.add_argument("--clear", action="store_true", help="no rule: the current members stay, managed by hand")
    p = cmd(groups, "preview-rule", preview_rule, "who a rule matches now")
    p.add_argument("rule")
    p.add_argument("--limit", type=int, default=20)
    p = cmd(groups, "delete", delete, "delete a group", write=True)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    for name, add in (("add-member", True), ("remove-member", False)):
        p = cmd(groups, name, members(add), f"{name.replace('-', ' ')}s", write=True)
        p.add_argument("name")
        p.add_argument("users", nargs="+", metavar="USER")

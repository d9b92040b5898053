"""`idconsole groups …`: local groups and their members."""
from __future__ import annotations

import argparse
from typing import Any

from console.cli.output import confirmed_removal, emit_json, emit_table
from console.service import Service


def list_(svc: Service, a: argparse.Namespace) -> int:
    groups = svc.groups()
    if a.json:
        emit_json([{**g.to_doc(), "members": [u.label() for u in svc.members(g)]} for g in groups])
    else:
        emit_table([[g.name, len(g.members), g.description] for g in groups], ["name", "members", "description"])
    return 0


def create(svc: Service, a: argparse.Namespace) -> int:
    group = svc.create_group(a.name, a.description or "")
    print(f"created group {group.name}")
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
    p = cmd(groups, "delete", delete, "delete a group", write=True)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    for name, add in (("add-member", True), ("remove-member", False)):
        p = cmd(groups, name, members(add), f"{name.replace('-', ' ')}s", write=True)
        p.add_argument("name")
        p.add_argument("users", nargs="+", metavar="USER")

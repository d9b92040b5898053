"""`idconsole users …`: people in the local state."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli.output import confirmed_removal, emit_json, emit_json_list, emit_table
from console.service import Service

FIELDS = ("given_name", "family_name", "display_name", "email", "department", "title", "manager", "status")


def _row(svc: Service, user: Any) -> list[Any]:
    return [user.key(svc.primary_key), user.userName, user.displayName, user.email, user.department, user.status]


def import_file(svc: Service, a: argparse.Namespace) -> int:
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


def list_(svc: Service, a: argparse.Namespace) -> int:
    users = svc.users(a.filter or "")
    if a.json:
        emit_json_list(u.to_doc() for u in users)
    else:
        emit_table([_row(svc, u) for u in users], [svc.primary_key, "userName", "displayName", "email", "department",
                                                   "status"])
    return 0


def show(svc: Service, a: argparse.Namespace) -> int:
    details = svc.person(a.user)
    if a.json:
        emit_json(details.to_dict())
        return 0
    for key, value in details.user.to_doc().items():
        if value not in ("", [], {}):
            print(f"{key:>12}: {value}")
    print(f"{'groups':>12}: {', '.join(details.groups) or '-'}")
    for link in details.accounts:
        print(f"{'account':>12}: {link.app}: {link.remote_name} ({link.state}, id {link.remote_id})")
    return 0


def _fields(a: argparse.Namespace) -> dict[str, Any]:
    camel = {"given_name": "givenName", "family_name": "familyName", "display_name": "displayName"}
    return {camel.get(f, f): getattr(a, f) for f in FIELDS if getattr(a, f, None) is not None}


def add(svc: Service, a: argparse.Namespace) -> int:
    user = svc.add_user(employeeId=a.employee_id, userName=a.user_name, **_fields(a))
    emit_json(user.to_doc()) if a.json else print(f"added {user.label()} ({user.displayName})")
    return 0


def edit(svc: Service, a: argparse.Namespace) -> int:
    user = svc.edit_user(a.user, **_fields(a))
    emit_json(user.to_doc()) if a.json else print(f"saved {user.label()}")
    return 0


def delete(svc: Service, a: argparse.Namespace) -> int:
    user = svc.user(a.user)
    return confirmed_removal(a.yes, f"Delete {user.label()} ({user.displayName}) from the local state? Their accounts "
                             "are deprovisioned by the next sync.", lambda: svc.delete_user(a.user, confirm=True),
                             f"deleted {user.label()}")


def register(sub: Any, cmd: Any) -> None:
    users = sub.add_parser("users", help="people in the local state").add_subparsers(dest="sub", required=True)
    p = cmd(users, "import", import_file, "load people from a .csv or .json file", write=True)
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true")
    p = cmd(users, "list", list_, "list people")
    p.add_argument("--filter")
    p = cmd(users, "show", show, "one person, their groups and accounts")
    p.add_argument("user")
    for name, handler in (("add", add), ("edit", edit)):
        p = cmd(users, name, handler, f"{name} a person", write=True)
        if name == "add":
            p.add_argument("--employee-id", required=True)
            p.add_argument("--user-name", required=True)
        else:
            p.add_argument("user")
        for field in FIELDS:
            if field == "status" and name == "add":
                continue
            p.add_argument("--" + field.replace("_", "-"),
                           required=(name == "add" and field in ("given_name", "family_name")))
    p = cmd(users, "delete", delete, "remove a person (their accounts are deprovisioned by the next sync)", write=True)
    p.add_argument("user")
    p.add_argument("--yes", action="store_true")

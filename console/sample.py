"""Loading the sample organisation (sample_data/) into a home: people, groups, apps, policies.

Used by `idconsole demo` and by tests. Application definitions carry `{placeholders}` (sandbox URLs)
that the caller fills in; applications whose placeholders are not given are left out, with their policies.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from console.models import Application, Group, Policy
from console.service import Service

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _placeholders(value: Any) -> set[str]:
    return set(PLACEHOLDER.findall(orjson.dumps(value).decode()))


def load_people_and_groups(svc: Service, sample_dir: Path = SAMPLE_DIR) -> None:
    result = svc.import_users(sample_dir / "people.csv")
    if result.errors:
        raise RuntimeError(f"sample people did not load: {result.errors[:3]}")
    store = svc.store
    groups = []
    for doc in orjson.loads((sample_dir / "groups.json").read_bytes()):
        members = [u.id for u in (store.users.by_key(k) for k in doc.get("members", [])) if u is not None]
        existing = store.groups.by_name(doc["name"])
        group = existing or Group(name=doc["name"], description=doc.get("description", ""))
        group.members = members
        groups.append(group)
    store.groups.put_many(groups)
    store.flush()


# Role groups (sample_data/roles.json): owners and collaborators of the Bitbucket workspace, pushed to AD and Microsoft
# 365 by the policies corp-ad-roles and m365-roles. Today they are plain groups with the members listed in the file;
# once rule groups exist (`groups create NAME --rule EXPR`), set this to True and the same groups follow each
# person's Bitbucket `role` on every import instead: the one-line switch of the demo.
ROLE_GROUPS_FROM_RULES = True


def load_roles(svc: Service, added: list[str], sample_dir: Path = SAMPLE_DIR) -> None:
    """The role groups and the policies that push them to the applications in `added` (disabled where the
    application's other policies are, e.g. an offline AD)."""
    store = svc.store
    roles = orjson.loads((sample_dir / "roles.json").read_bytes())
    for doc in roles["groups"]:
        if store.groups.by_name(doc["name"]):
            continue
        if ROLE_GROUPS_FROM_RULES:
            svc.create_group(doc["name"], doc.get("description", ""), rule=doc["rule"])
            continue
        members = [u.id for u in (store.users.by_key(k) for k in doc["members"]) if u is not None]
        store.groups.add(Group(name=doc["name"], description=doc.get("description", ""), members=members))
    for doc in roles["policies"]:
        if doc["app"] in added and not store.policies.by_name(doc["name"]):
            others = [p for p in store.policies if p.app == doc["app"]]
            enabled = doc.get("enabled", True) and (not others or any(p.enabled for p in others))
            store.policies.add(Policy(name=doc["name"], app=doc["app"], groups=doc["groups"],
                                      login_method=doc.get("login_method", "sso"), enabled=enabled))
    store.flush()


def load_apps_and_policies(svc: Service, values: dict[str, str], sample_dir: Path = SAMPLE_DIR,
                           only: set[str] | None = None) -> list[str]:
    """Add the sample applications whose placeholders are all known (and in `only`, if given)."""
    store = svc.store
    added = []
    for doc in orjson.loads((sample_dir / "apps.json").read_bytes()):
        if only is not None and doc["name"] not in only:
            continue
        if _placeholders(doc) - set(values):
            continue
        doc = _fill(doc, values)
        app = store.applications.by_name(doc["name"]) or Application(name=doc["name"], kind=doc["kind"])
        app.settings = doc.get("settings", {})
        app.secrets = doc.get("secrets", {})
        app.features.update(doc.get("features", {}))
        app.deprovision = doc.get("deprovision", app.deprovision)
        if "delete_after_days" in app.settings and app.settings["delete_after_days"] is not None:
            app.delete_grace_days = int(app.settings["delete_after_days"])
        for key in ("max_concurrency", "threshold_count", "threshold_percent", "delete_grace_days"):
            if key in doc:
                setattr(app, key, doc[key])
        store.applications.put(app)
        added.append(app.name)
    for doc in orjson.loads((sample_dir / "policies.json").read_bytes()):
        if doc["app"] not in added or store.policies.by_name(doc["name"]):
            continue
        store.policies.add(Policy(name=doc["name"], app=doc["app"], groups=doc["groups"],
                                  login_method=doc.get("login_method", "sso"), enabled=doc.get("enabled", True)))
    store.flush()
    return added

"""`idconsole endpoints …` and `idconsole mapping …`: an inbound source's endpoints and attribute mapping.

Test & save reads an endpoint's first page and keeps its flattened fields, so that a mapping can be
picked from them and checked (the primary key field must exist in every selected endpoint).
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Any

from console.connectors import is_source, make_source
from console.errors import BadInput, UnknownObject
from console.inbound.endpoints import Endpoint, delete_endpoint, load_endpoints, save_endpoint, test_endpoint
from console.inbound.run import preview
from console.mapping import load_mapping, save_mapping
from console.service import Service


def _source_app(svc: Service, name: str):  # type: ignore[no-untyped-def]
    app = svc.app(name)
    if not is_source(app.kind):
        raise BadInput(f"{app.name} is a {app.kind} target, not an inbound source", hint="use a bitbucket application")
    return app


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{what} {item!r} is not NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _endpoint(svc: Service, app: str, name: str) -> Endpoint:
    for endpoint in load_endpoints(svc.store, app):
        if endpoint.name.casefold() == name.casefold():
            return endpoint
    names = ", ".join(repr(e.name) for e in load_endpoints(svc.store, app))
    raise UnknownObject(f"{app} has no endpoint {name!r}", hint=f"its endpoints: {names}")


def endpoints_list(svc: Service, a: argparse.Namespace) -> int:
    from console.cli import emit_json, emit_table

    app = _source_app(svc, a.app)
    endpoints = load_endpoints(svc.store, app.name)
    if a.json:
        emit_json([e.to_doc() for e in endpoints])
    else:
        emit_table([[e.name, "primary" if e.primary else "joined", e.url, e.pagination, e.pagelen, len(e.fields)]
                    for e in endpoints], ["name", "role", "url", "paging", "pagelen", "fields"])
    return 0


def endpoints_set(svc: Service, a: argparse.Namespace) -> int:
    app = _source_app(svc, a.app)
    try:
        endpoint = _endpoint(svc, app.name, a.name)
    except UnknownObject:
        if not a.url:
            raise BadInput("a new endpoint needs --url", hint="e.g. --url '{base_url}/workspaces/{workspace}/permissions'") from None
        endpoint = Endpoint(name=a.name, app=app.name, url=a.url, primary=False)
    if a.url:
        endpoint.url = a.url
    endpoint.params.update(_pairs(a.param, "--param"))
    endpoint.headers.update(_pairs(a.header, "--header"))
    for key in a.remove or []:
        endpoint.params.pop(key, None)
        endpoint.headers.pop(key, None)
    for option in ("pagination", "pagelen", "max_pages", "page_param"):
        if getattr(a, option) is not None:
            setattr(endpoint, option, getattr(a, option))
    if a.primary is not None:
        endpoint.primary = a.primary
    save_endpoint(svc.store, endpoint)
    print(f"saved endpoint {endpoint.name!r} of {app.name}; check it with: idconsole endpoints test {app.name} '{endpoint.name}'")
    return 0


def endpoints_test(svc: Service, a: argparse.Namespace) -> int:
    from console.cli import emit_json, emit_table

    app = _source_app(svc, a.app)
    endpoint = _endpoint(svc, app.name, a.name)

    async def run() -> dict[str, Any]:
        source = make_source(app)
        try:
            return await test_endpoint(source, endpoint, svc.store)
        finally:
            await source.aclose()

    samples = asyncio.run(run())
    if a.json:
        emit_json(samples)
    else:
        print(f"{endpoint.name}: {len(samples)} fields on the first page (saved; pick mapping sources from them)")
        emit_table([[name, repr(value)[:60]] for name, value in samples.items()], ["field", "sample value"])
    return 0


def endpoints_delete(svc: Service, a: argparse.Namespace) -> int:
    from console.cli import confirm

    app = _source_app(svc, a.app)
    endpoint = _endpoint(svc, app.name, a.name)
    if not a.yes and not confirm(f"Delete endpoint {endpoint.name!r} of {app.name}?"):
        return 2
    delete_endpoint(svc.store, app.name, endpoint.name)
    print(f"deleted endpoint {endpoint.name!r}")
    return 0


def mapping_show(svc: Service, a: argparse.Namespace) -> int:
    from console.cli import emit_json

    app = _source_app(svc, a.app)
    mapping = load_mapping(svc.store, app.name, load_endpoints(svc.store, app.name))
    if a.json:
        emit_json(mapping.to_doc())
        return 0
    print(f"{mapping.name} ({mapping.category}) — {mapping.description}")
    print(f"  endpoints: {', '.join(mapping.endpoints)}")
    print(f"  primary key: {svc.store.primary_key} ← {mapping.primary_key}")
    print(f"  match existing people on: {', '.join(mapping.match_on) or '-'}")
    for target, source in mapping.mappings.items():
        print(f"  {target:<20} ← {source}")
    return 0


def mapping_set(svc: Service, a: argparse.Namespace) -> int:
    app = _source_app(svc, a.app)
    mapping = load_mapping(svc.store, app.name, load_endpoints(svc.store, app.name))
    for option in ("name", "description", "category", "primary_key"):
        if getattr(a, option) is not None:
            setattr(mapping, option, getattr(a, option))
    if a.endpoint:
        mapping.endpoints = a.endpoint
    if a.match_on is not None:
        mapping.match_on = [m for m in a.match_on if m]
    mapping.mappings.update(_pairs(a.map, "--map"))
    for target in a.unmap or []:
        mapping.mappings.pop(target, None)
    for warning in save_mapping(svc.store, mapping):
        print(f"warning: {warning}")
    print(f"saved mapping {mapping.name!r} of {app.name}; try it with: idconsole mapping preview {app.name}")
    return 0


def mapping_preview(svc: Service, a: argparse.Namespace) -> int:
    from console.cli import emit_json

    app = _source_app(svc, a.app)
    records = asyncio.run(preview(svc.store, app, limit=a.limit))
    if a.json:
        emit_json([{"key": r.key, "values": r.values, "issues": [str(i) for i in r.issues]} for r in records])
        return 0
    bad = 0
    for record in records:
        print(f"{record.key}:")
        for target, value in record.values.items():
            print(f"  {target:<20} = {value!r}")
        for issue in record.issues:
            bad += 1
            print(f"  INVALID {issue}")
    print(f"{len(records)} records previewed, {bad} invalid value(s)")
    return 1 if bad else 0


def add_parsers(sub: Any, cmd: Any) -> None:
    """The `endpoints` and `mapping` command groups (called by console.cli.build_parser)."""
    endpoints = sub.add_parser("endpoints", help="an inbound source's endpoints").add_subparsers(dest="sub", required=True)
    p = cmd(endpoints, "list", endpoints_list, "list the endpoints of a source")
    p.add_argument("app")
    p = cmd(endpoints, "set", endpoints_set, "add or edit an endpoint (macros: {workspace} {base_url} {today} {now} {last_run} {app})")
    p.add_argument("app")
    p.add_argument("name")
    p.add_argument("--url")
    p.add_argument("--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--header", action="append", metavar="NAME=VALUE")
    p.add_argument("--remove", action="append", metavar="NAME", help="drop a param or header")
    p.add_argument("--pagination", choices=("page", "next", "none"))
    p.add_argument("--page-param")
    p.add_argument("--pagelen", type=int)
    p.add_argument("--max-pages", type=int)
    p.add_argument("--primary", dest="primary", action="store_true", default=None, help="its records are the people")
    p.add_argument("--joined", dest="primary", action="store_false", help="joined onto the primary's records")
    p = cmd(endpoints, "test", endpoints_test, "test & save: read the first page and list its fields")
    p.add_argument("app")
    p.add_argument("name")
    p = cmd(endpoints, "delete", endpoints_delete, "delete an endpoint")
    p.add_argument("app")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    mapping = sub.add_parser("mapping", help="an inbound source's attribute mapping").add_subparsers(dest="sub", required=True)
    p = cmd(mapping, "show", mapping_show, "the mapping in force (the default one when none is saved)")
    p.add_argument("app")
    p = cmd(mapping, "set", mapping_set, "change the mapping: --map ATTR=FORMAT, e.g. sAMAccountName='{user.display_name|first|initial|lower}{user.display_name|last|ascii|lower}'")
    p.add_argument("app")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--category")
    p.add_argument("--endpoint", action="append", metavar="NAME")
    p.add_argument("--primary-key", metavar="FIELD", help="the source field holding the primary key, e.g. user.account_id")
    p.add_argument("--map", action="append", metavar="ATTR=FORMAT")
    p.add_argument("--unmap", action="append", metavar="ATTR")
    p.add_argument("--match-on", action="append", metavar="FIELD", help="correlate unknown keys with people by this field")
    p = cmd(mapping, "preview", mapping_preview, "the mapping applied to the first page of real records")
    p.add_argument("app")
    p.add_argument("--limit", type=int, default=10)

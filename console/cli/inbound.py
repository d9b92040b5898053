"""`idconsole import …`, `idconsole endpoints …`, `idconsole mapping …`: an inbound source's configuration and run.

`import` exit codes: 0 every record imported, 1 records were skipped (each printed with its field, value and
rule), 2 leavers were refused by the threshold (confirm with --yes --allow-deletes N)."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli.output import confirmed_removal, emit_json, emit_table, run_async
from console.service import Confirmation, Service, parse_pairs

if TYPE_CHECKING:
    from console.service import ImportResult


# ---- import ------------------------------------------------------------------------------------
def import_source(svc: Service, a: argparse.Namespace) -> int:
    confirmation = Confirmation(yes=a.yes, count=a.allow_deletes)
    result = run_async(svc.import_source(a.app, confirmation, dry_run=a.dry_run))
    if a.json:
        emit_json(result.to_dict())
    else:
        print_import(result)
    if result.leavers_refused and "--allow-deletes" in result.leavers_refused:
        return 2
    return 0 if result.ok else 1


def print_import(result: ImportResult) -> None:
    c = result.counts
    prefix = "dry run: would import" if result.dry_run else "imported"
    print(f"{prefix} {result.app}: {c['fetched']} members read in {result.pages} page(s), "
          f"{result.requests} request(s); "
          f"{c['joiners']} joiners, {c['movers']} movers, {c['leavers']} leavers, {c['unchanged']} unchanged, "
          f"{c['skipped']} skipped")
    for outcome in result.outcomes:
        if outcome.action in ("create", "update", "leaver"):
            fields = ", ".join(f"{k}: {v[0]!r} → {v[1]!r}" if outcome.action != "create" else k
                               for k, v in outcome.changes.items())
            print(f"  {outcome.action:<7} {outcome.person}  {fields}")
    for outcome in result.of("left_kept"):
        print(f"  left    {outcome.person}  kept active: also from another source (linked_leavers=keep)")
    for outcome in result.of("skipped"):
        for issue in outcome.issues:
            print(f"  skipped {issue}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.pending_leavers:
        print("  not made leavers: " + ", ".join(result.pending_leavers), file=sys.stderr)


# ---- endpoints ---------------------------------------------------------------------------------
def endpoints_list(svc: Service, a: argparse.Namespace) -> int:
    endpoints = svc.endpoints(a.app)
    if a.json:
        emit_json([e.to_doc() for e in endpoints])
    else:
        emit_table([[e.name, "primary" if e.primary else "joined", e.url, e.pagination, e.pagelen, len(e.fields)]
                    for e in endpoints], ["name", "role", "url", "paging", "pagelen", "fields"])
    return 0


def endpoints_set(svc: Service, a: argparse.Namespace) -> int:
    endpoint = svc.save_endpoint(
        a.app, a.name, url=a.url, method=a.method, params=parse_pairs(a.param or [], "--param"),
        headers=parse_pairs(a.header or [], "--header"), remove=a.remove, pagination=a.pagination,
        page_param=a.page_param, pagelen=a.pagelen, max_pages=a.max_pages, primary=a.primary)
    print(f"saved endpoint {endpoint.name!r} of {endpoint.app}; check it with: "
          f"idconsole endpoints test {endpoint.app} '{endpoint.name}'")
    return 0


def endpoints_test(svc: Service, a: argparse.Namespace) -> int:
    tested = run_async(svc.test_endpoint(a.app, a.name))
    for warning in tested.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if a.json:
        emit_json(tested.samples)
        return 0
    print(tested.summary + ("" if tested.warnings or not tested.saved else "; pick mapping sources from them"))
    emit_table([[name, repr(value)[:60]] for name, value in tested.samples.items()], ["field", "sample value"])
    return 0


def endpoints_delete(svc: Service, a: argparse.Namespace) -> int:
    endpoint = svc.endpoint(a.app, a.name)
    return confirmed_removal(a.yes, f"Delete endpoint {endpoint.name!r} of {endpoint.app}?",
                             lambda: svc.delete_endpoint(a.app, a.name, confirm=True), f"deleted endpoint {endpoint.name!r}")


# ---- mapping -----------------------------------------------------------------------------------
def mapping_show(svc: Service, a: argparse.Namespace) -> int:
    mapping = svc.mapping(a.app)
    if a.json:
        emit_json(mapping.to_doc())
        return 0
    print(f"{mapping.name} ({mapping.category}) — {mapping.description}")
    print(f"  endpoints: {', '.join(mapping.endpoints)}")
    print(f"  primary key: {svc.primary_key} ← {mapping.primary_key}")
    print(f"  match existing people on: {', '.join(mapping.match_on) or '-'}")
    for target, source in mapping.mappings.items():
        print(f"  {target:<20} ← {source}")
    return 0


def mapping_set(svc: Service, a: argparse.Namespace) -> int:
    mapping, warnings = svc.save_mapping(
        a.app, name=a.name, description=a.description, category=a.category, primary_key=a.primary_key,
        endpoints=a.endpoint or None, match_on=a.match_on, mappings=parse_pairs(a.map or [], "--map", "ATTR=FORMAT"),
        unmap=a.unmap)
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"saved mapping {mapping.name!r} of {mapping.app}; try it with: idconsole mapping preview {mapping.app}")
    return 0


def mapping_preview(svc: Service, a: argparse.Namespace) -> int:
    records = run_async(svc.preview_mapping(a.app, limit=a.limit))
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


def register(sub: Any, cmd: Any) -> None:
    imp = sub.add_parser("import", help="inbound: fetch, map, upsert people").add_subparsers(dest="sub", required=True)
    p = cmd(imp, "bitbucket", import_source, "import a Bitbucket workspace's members", write=True)
    p.add_argument("app")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true", help="confirm the leavers (needed above the threshold)")
    p.add_argument("--allow-deletes", type=int, default=None, metavar="N",
                   help="the exact number of leavers above the threshold; confirms a count, never replaces --yes")

    endpoints = sub.add_parser("endpoints", help="an inbound source's endpoints").add_subparsers(dest="sub", required=True)
    p = cmd(endpoints, "list", endpoints_list, "list the endpoints of a source")
    p.add_argument("app")
    p = cmd(endpoints, "set", endpoints_set,
            "add or edit an endpoint (macros: {workspace} {base_url} {today} {now} {last_run} {app})", write=True)
    p.add_argument("app")
    p.add_argument("name")
    p.add_argument("--url")
    p.add_argument("--method", help="HTTP method (Bitbucket's member API is read-only: GET)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--header", action="append", metavar="NAME=VALUE")
    p.add_argument("--remove", action="append", metavar="NAME", help="drop a param or header")
    p.add_argument("--pagination", choices=("page", "next", "none"))
    p.add_argument("--page-param")
    p.add_argument("--pagelen", type=int)
    p.add_argument("--max-pages", type=int)
    p.add_argument("--primary", dest="primary", action="store_true", default=None, help="its records are the people")
    p.add_argument("--joined", dest="primary", action="store_false", help="joined onto the primary's records")
    p = cmd(endpoints, "test", endpoints_test, "test & save: read the first page and list its fields", write=True)
    p.add_argument("app")
    p.add_argument("name")
    p = cmd(endpoints, "delete", endpoints_delete, "delete an endpoint", write=True)
    p.add_argument("app")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    mapping = sub.add_parser("mapping", help="an inbound source's attribute mapping").add_subparsers(dest="sub",
                                                                                                    required=True)
    p = cmd(mapping, "show", mapping_show, "the mapping in force (the default one when none is saved)")
    p.add_argument("app")
    p = cmd(mapping, "set", mapping_set, "change the mapping: --map ATTR=FORMAT, e.g. "
            "sAMAccountName='{user.display_name|first|initial|lower}{user.display_name|last|ascii|lower}'", write=True)
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

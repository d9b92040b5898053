"""Inbound endpoint configuration: URL/headers/params with macros, and repeat-call pagination.

An endpoint is stored as a plain dict (`to_doc`) in the state table `endpoints`. Pagination asks
page 1, 2, 3 … and stops when `values` is empty or `next` is absent; a page that repeats the
previous one (Bitbucket bug BCLOUD-22441) stops the walk with a warning, as does the page cap.
"""
from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tinydb import where

from console import clock
from console.errors import BadInput
from console.models import _Doc, new_id

DEFAULT_ENDPOINT_NAME = "Bitbucket users endpoint"
PERMISSIONS_ENDPOINT_NAME = "Bitbucket permissions endpoint"
# What /workspaces/{workspace}/permissions returns per record (BB spec: workspace_membership with `permission`),
# known before any "test & save" so that the default mapping's join is checked; a test replaces them.
PERMISSION_FIELDS = ("permission", "type", "user.account_id", "user.display_name", "user.nickname", "user.type",
                     "user.uuid", "workspace.name", "workspace.slug", "workspace.type", "workspace.uuid")
PAGINATIONS = ("page", "next", "none")
MACROS = ("workspace", "base_url", "today", "now", "last_run", "app")
NEVER = "1970-01-01T00:00:00Z"
TABLE = "endpoints"
_MACRO = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


if TYPE_CHECKING:
    from console.store import Store


class Source(Protocol):
    async def fetch_all(self, endpoint: Endpoint, *, first_page_only: bool = False) -> FetchResult: ...


@dataclass
class Endpoint(_Doc):
    """Where an inbound source reads records, and how to walk its pages."""

    name: str
    app: str
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    pagination: str = "page"  # page (page += 1) | next (follow `next`) | none (one call)
    page_param: str = "page"
    pagelen: int = 100
    primary: bool = True  # the endpoint whose records are the people; others are joined onto them
    max_pages: int = 1000
    fields: list[str] = field(default_factory=list)  # flattened fields seen by the last "test & save"
    id: str = field(default_factory=new_id)

    def check(self) -> Endpoint:
        """Refuse a configuration that cannot work, naming the field (macros are checked too)."""
        if not self.name.strip():
            raise BadInput("an endpoint needs a name")
        if self.method.upper() != "GET":
            raise BadInput(f"endpoint {self.name!r}: method {self.method} is not supported",
                           hint="Bitbucket's member and permission API is read-only: use GET")
        if self.pagination not in PAGINATIONS:
            raise BadInput(f"endpoint {self.name!r}: pagination {self.pagination!r} is unknown",
                           hint=f"use one of: {', '.join(PAGINATIONS)}")
        if not 1 <= int(self.pagelen) <= 100:
            raise BadInput(f"endpoint {self.name!r}: pagelen {self.pagelen} is out of range",
                           hint="Bitbucket accepts 1 to 100 records per page")
        if int(self.max_pages) < 1:
            raise BadInput(f"endpoint {self.name!r}: max_pages must be at least 1")
        if any(name.lower() == "authorization" for name in self.headers):
            raise BadInput(f"endpoint {self.name!r}: the Authorization header comes from the application",
                           hint="remove it from the endpoint; credentials are the application's secrets")
        sample = {name: "x" for name in MACROS}
        for text in [self.url, *self.headers.values(), *self.params.values()]:
            expand(str(text), sample)
        return self


def default_endpoint(app: str) -> Endpoint:
    """The preconfigured members endpoint every Bitbucket application starts with (editable)."""
    return Endpoint(name=DEFAULT_ENDPOINT_NAME, app=app, url="{base_url}/workspaces/{workspace}/members",
                    headers={"Accept": "application/json"}, pagelen=100, id=_preset_id(app, DEFAULT_ENDPOINT_NAME))


def _preset_id(app: str, name: str) -> str:
    """A preset's id is the same every time it is made, so saving a preset updates it instead of adding a twin."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"idconsole:endpoint:{app}:{name}").hex


def permissions_endpoint(app: str) -> Endpoint:
    """A secondary endpoint that adds each member's `permission` (owner, collaborator, member)."""
    return Endpoint(name=PERMISSIONS_ENDPOINT_NAME, app=app, url="{base_url}/workspaces/{workspace}/permissions",
                    headers={"Accept": "application/json"}, pagelen=100, primary=False,
                    fields=list(PERMISSION_FIELDS), id=_preset_id(app, PERMISSIONS_ENDPOINT_NAME))


def macro_values(*, workspace: str, base_url: str, app: str, last_run: str = "",
                 now: datetime | None = None) -> dict[str, str]:
    now = now or clock.now()
    return {"workspace": workspace, "base_url": base_url.rstrip("/"), "app": app, "today": now.date().isoformat(),
            "now": now.isoformat(timespec="seconds").replace("+00:00", "Z"), "last_run": last_run or NEVER}


def expand(text: str, values: dict[str, str]) -> str:
    """Replace `{macro}`; `{{` and `}}` are literal braces; an unknown macro is a BadInput naming it."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            raise BadInput(f"unknown macro {{{name}}} in {text!r}",
                           hint="known macros: " + ", ".join("{" + m + "}" for m in MACROS))
        return values[name]

    return _MACRO.sub(one, text)


@dataclass
class FetchResult:
    """Every record of an endpoint, and whether the walk saw the whole collection."""

    endpoint: str
    records: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    size: int | None = None
    complete: bool = True
    warnings: list[str] = field(default_factory=list)


GetJson = Callable[[str, dict[str, str], dict[str, str]], Awaitable[dict[str, Any]]]


async def paginate(endpoint: Endpoint, values: dict[str, str], get_json: GetJson, *,
                   plan: Callable[[int], None] | None = None, first_page_only: bool = False) -> FetchResult:
    """Walk the endpoint's pages with `get_json(url, params, headers)`; `plan(n)` may refuse n more calls."""
    endpoint.check()
    url = expand(endpoint.url, values)
    headers = {k: expand(str(v), values) for k, v in endpoint.headers.items()}
    params = {k: expand(str(v), values) for k, v in endpoint.params.items()}
    result = FetchResult(endpoint.name)
    if endpoint.pagination == "none":
        body = await get_json(url, params, headers)
        result.pages = 1
        result.records = list(body["values"]) if isinstance(body.get("values"), list) else [body]
        return result
    params.setdefault("pagelen", str(endpoint.pagelen))
    previous: list[Any] | None = None
    page = 1
    while True:
        if endpoint.pagination == "page":
            body = await get_json(url, {**params, endpoint.page_param: str(page)}, headers)
        else:
            body = await get_json(url, params if page == 1 else {}, headers)
        result.pages = page
        rows = body.get("values")
        if not isinstance(rows, list):
            raise BadInput(f"endpoint {endpoint.name!r} did not return a page of `values`",
                           hint="check the URL, or set pagination to `none` for a single object")
        if isinstance(body.get("size"), int):
            result.size = body["size"]
        if not rows:
            break
        if rows == previous:
            result.warnings.append(f"{endpoint.name}: page {page} repeats page {page - 1} (Bitbucket bug "
                                   "BCLOUD-22441); stopped there")
            result.complete = False
            break
        result.records.extend(rows)
        previous = rows
        if first_page_only or not body.get("next"):
            break
        if page >= endpoint.max_pages:
            result.warnings.append(f"{endpoint.name}: stopped after {page} pages (max_pages); the rest was not read")
            result.complete = False
            break
        if page == 1 and plan is not None and result.size is not None:
            pagelen = body.get("pagelen")
            per_page = pagelen if isinstance(pagelen, int) else len(rows)
            plan(max(0, min(endpoint.max_pages, math.ceil(result.size / max(1, per_page))) - 1))
        if endpoint.pagination == "next":
            url = str(body["next"])
        page += 1
    if result.size is not None and not first_page_only:
        if len(result.records) == result.size:
            result.complete = True  # e.g. the repeated page was past the end: nothing is missing
        elif len(result.records) < result.size and result.complete:
            result.warnings.append(f"{endpoint.name}: read {len(result.records)} of {result.size} records "
                                   "(the collection changed while it was read)")
            result.complete = False
    return result


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """`{"user": {"display_name": "A"}}` → `{"user.display_name": "A"}`; list items get their index."""
    out: dict[str, Any] = {}
    if isinstance(record, dict):
        for key, value in record.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(record, list):
        for i, value in enumerate(record):
            out.update(flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    elif prefix:
        out[prefix] = record
    return out


def field_samples(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every field seen in the records, with the first non-empty sample value (sorted by name)."""
    samples: dict[str, Any] = {}
    for record in records:
        for name, value in flatten(record).items():
            if name not in samples or (samples[name] in (None, "") and value not in (None, "")):
                samples[name] = value
    return dict(sorted(samples.items()))


# --- configuration kept in the state table `endpoints` --------------------------------------
def load_endpoints(store: Store, app: str) -> list[Endpoint]:
    """The application's endpoints; the preconfigured members and permissions endpoints when none was saved."""
    docs = [doc for doc in store.table(TABLE).all() if doc.get("app") == app]
    return [Endpoint.from_doc(dict(doc)) for doc in docs] or [default_endpoint(app), permissions_endpoint(app)]


def save_endpoint(store: Store, endpoint: Endpoint) -> Endpoint:
    """Store an endpoint; the first one saved for an application keeps the preconfigured endpoints."""
    endpoint.check()
    table = store.table(TABLE)
    if not any(doc.get("app") == endpoint.app for doc in table.all()):
        for preset in (default_endpoint(endpoint.app), permissions_endpoint(endpoint.app)):
            if preset.id == endpoint.id:
                table.insert(endpoint.to_doc())  # in the preset's place
            elif preset.name.casefold() != endpoint.name.casefold():
                table.insert(preset.to_doc())
    for doc in table.all():
        if doc.get("app") == endpoint.app and doc.get("id") != endpoint.id and \
                str(doc.get("name", "")).casefold() == endpoint.name.casefold():
            raise BadInput(f"{endpoint.app} has an endpoint named {endpoint.name!r} already",
                           hint="choose another name")
    table.upsert(endpoint.to_doc(), where("id") == endpoint.id)
    return endpoint


def delete_endpoint(store: Store, app: str, name: str) -> None:
    store.table(TABLE).remove((where("app") == app) & (where("name") == name))


@dataclass
class EndpointTest:
    """What "Test & save" found on an endpoint's first page: its fields with a sample value each, whether the
    endpoint was saved, and the warnings every front end shows (an empty first page leaves nothing to map)."""

    endpoint: Endpoint
    samples: dict[str, Any]
    saved: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        saved = "saved" if self.saved else "not saved: read-only"
        return f"{self.endpoint.name}: {len(self.samples)} fields on the first page ({saved})"


def test_warnings(samples: dict[str, Any]) -> list[str]:
    """The warnings of a test & save: a first page without records gives no field to map."""
    if samples:
        return []
    return ["the first page had no records: nothing to map yet (is the workspace empty, the URL wrong, or a "
            "parameter such as q= filtering everyone out?)"]


test_warnings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name


async def test_endpoint(source: Source, endpoint: Endpoint, store: Store | None = None) -> dict[str, Any]:
    """"Test & save": read the first page, return its flattened fields with sample values, save the endpoint."""
    result = await source.fetch_all(endpoint, first_page_only=True)
    samples = field_samples(result.records)
    endpoint.fields = list(samples)
    if store is not None:
        save_endpoint(store, endpoint)
        store.flush()
    return samples


test_endpoint.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name

"""Request routing of the Graph sandbox: `/v1.0/...` resources on top of `Directory`, with OData list semantics.

Transport-free: `GraphApi.route(request)` returns `(status, body)`; the HTTP layer (graph.py) adds auth,
faults and headers. Paths are matched case-insensitively, as Graph does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from console.sandbox import graph_odata as odata
from console.sandbox import graph_schema as schema
from console.sandbox.graph_directory import Directory
from console.sandbox.graph_errors import GraphFault


@dataclass
class ApiRequest:
    method: str
    path: str  # below /v1.0, normalised: no duplicate or trailing slashes
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    base: str  # scheme://host of this server, for absolute links
    empty_page: bool = False  # a fault switch: answer this list call with an empty page and a nextLink
    route: str = field(default="")


_ROUTES = [(re.compile(pattern, re.IGNORECASE), name) for pattern, name in (
    (r"/users", "/users"),
    (r"/users/[^/]+", "/users/{id}"),
    (r"/users/[^/]+/revokeSignInSessions", "/users/{id}/revokeSignInSessions"),
    (r"/users/[^/]+/assignLicense", "/users/{id}/assignLicense"),
    (r"/subscribedSkus", "/subscribedSkus"),
    (r"/groups", "/groups"),
    (r"/groups/[^/]+", "/groups/{id}"),
    (r"/groups/[^/]+/members", "/groups/{id}/members"),
    (r"/groups/[^/]+/members/\$ref", "/groups/{id}/members/$ref"),
    (r"/groups/[^/]+/members/[^/]+/\$ref", "/groups/{id}/members/{id}/$ref"),
    (r"/directory/deletedItems/(microsoft\.)?graph\.user", "/directory/deletedItems/microsoft.graph.user"),
    (r"/directory/deletedItems/(microsoft\.)?graph\.group", "/directory/deletedItems/microsoft.graph.group"),
    (r"/directory/deletedItems/[^/]+", "/directory/deletedItems/{id}"),
    (r"/directory/deletedItems/[^/]+/restore", "/directory/deletedItems/{id}/restore"),
)]


def route_name(method: str, path: str) -> str:
    """`METHOD /template` of a known resource path (for the request log and fault matching), else ''."""
    for pattern, name in _ROUTES:
        if pattern.fullmatch(path):
            return f"{method} {name}"
    return ""


def _not_allowed(method: str) -> GraphFault:
    return GraphFault(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource.")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


class GraphApi:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def route(self, req: ApiRequest) -> tuple[int, dict[str, Any] | None]:
        segs = _segments(req.path)
        low = [s.lower() for s in segs]
        m = req.method
        d = self.directory
        if low == ["users"]:
            if m == "GET":
                return 200, self._list(req, list(d.users.values()), "user", "users")
            if m == "POST":
                return 201, self._entity(req, d.create_user(req.body), "users", schema.USER_DEFAULT_SELECT)
        elif len(low) == 2 and low[0] == "users":
            if m == "GET":
                return 200, self._entity(req, d.user(segs[1]), "users", schema.USER_DEFAULT_SELECT,
                                         select=self._select(req, "user"))
            if m == "PATCH":
                d.update_user(segs[1], req.body)
                return 204, None
            if m == "DELETE":
                d.delete_user(segs[1])
                return 204, None
        elif len(low) == 3 and low[0] == "users" and low[2] == "revokesigninsessions" and m == "POST":
            d.revoke_sessions(segs[1])
            return 200, {"@odata.context": f"{req.base}/v1.0/$metadata#Edm.Boolean", "value": True}
        elif len(low) == 3 and low[0] == "users" and low[2] == "assignlicense" and m == "POST":
            return 200, self._entity(req, d.assign_license(segs[1], req.body), "users", schema.USER_DEFAULT_SELECT)
        elif low == ["subscribedskus"] and m == "GET":
            return 200, {"@odata.context": f"{req.base}/v1.0/$metadata#subscribedSkus",
                         "value": [schema.sku_document(s, d.tenant_id, d.consumed_units(s["skuId"]))
                                   for s in d.skus.values()]}
        elif low[:2] == ["directory", "deleteditems"] and len(low) >= 3:
            return self._deleted(req, segs[2:], low[2:])
        elif low and low[0] == "groups":
            return self._groups(req, segs[1:], low[1:])
        if req.route:
            raise _not_allowed(m)
        raise GraphFault(400, "BadRequest", f"Resource not found for the segment '{segs[-1] if segs else ''}'.")

    # --- groups and members --------------------------------------------------------------------------------------
    def _groups(self, req: ApiRequest, segs: list[str], low: list[str]) -> tuple[int, dict[str, Any] | None]:
        d, m = self.directory, req.method
        if not segs:
            if m == "GET":
                return 200, self._list(req, list(d.groups.values()), "group", "groups")
            if m == "POST":
                return 201, self._entity(req, d.create_group(req.body), "groups", schema.GROUP_DEFAULT_SELECT)
        elif len(segs) == 1:
            if m == "GET":
                return 200, self._entity(req, d.group(segs[0]), "groups", schema.GROUP_DEFAULT_SELECT,
                                         select=self._select(req, "group"))
            if m == "PATCH":
                d.update_group(segs[0], req.body)
                return 204, None
            if m == "DELETE":
                d.delete_group(segs[0])
                return 204, None
        elif low[1:] == ["members"] and m == "GET":
            return 200, self._list(req, [], "directoryObject", "directoryObjects", members_of=segs[0])
        elif low[1:] == ["members", "$ref"] and m == "POST":
            d.add_member(segs[0], req.body)
            return 204, None
        elif len(low) == 4 and low[1] == "members" and low[3] == "$ref" and m == "DELETE":
            d.remove_member(segs[0], segs[2])
            return 204, None
        if req.route:
            raise _not_allowed(m)
        raise GraphFault(400, "BadRequest", f"Resource not found for the segment '{segs[-1]}'.")

    # --- deleted items -------------------------------------------------------------------------------------------
    def _deleted(self, req: ApiRequest, segs: list[str], low: list[str]) -> tuple[int, dict[str, Any] | None]:
        d, m = self.directory, req.method
        # The SDK uses the alias form `graph.user`; documentation uses `microsoft.graph.user`: Graph takes both.
        if len(low) == 1 and low[0] in ("microsoft.graph.user", "microsoft.graph.group", "graph.user", "graph.group") \
                and m == "GET":
            kind = low[0].rsplit(".", 1)[1]
            return 200, self._list(req, d.deleted_of_type(kind), kind, f"{kind}s")
        if len(low) == 1:
            if m == "GET":
                record = d.deleted_item(segs[0])
                kind = "user" if "userPrincipalName" in record else "group"
                return 200, self._entity(req, record, "directoryObjects", self._defaults(kind), odata_type=kind)
            if m == "DELETE":
                d.purge(segs[0])
                return 204, None
        if len(low) == 2 and low[1] == "restore" and m == "POST":
            record = d.restore(segs[0], req.body if isinstance(req.body, dict) else None)
            kind = "user" if "userPrincipalName" in record else "group"
            return 200, self._entity(req, record, "directoryObjects", self._defaults(kind), odata_type=kind)
        if req.route:
            raise _not_allowed(m)
        raise GraphFault(400, "Request_BadRequest", "The OData cast type is a required part of the URI: use "
                         "/directory/deletedItems/microsoft.graph.user or microsoft.graph.group.")

    # --- shapes --------------------------------------------------------------------------------------------------
    @staticmethod
    def _defaults(kind: str) -> list[str]:
        return schema.USER_DEFAULT_SELECT if kind == "user" else schema.GROUP_DEFAULT_SELECT

    @staticmethod
    def _properties(kind: str) -> set[str]:
        if kind == "user":
            return schema.USER_PROPERTIES
        if kind == "group":
            return schema.GROUP_PROPERTIES
        return schema.USER_PROPERTIES | schema.GROUP_PROPERTIES

    def _select(self, req: ApiRequest, kind: str) -> list[str] | None:
        return odata.parse_select(req.query.get("$select"), kind, self._properties(kind))

    def _entity(self, req: ApiRequest, record: dict[str, Any], set_name: str, default: list[str],
                select: list[str] | None = None, odata_type: str | None = None) -> dict[str, Any]:
        context = f"{req.base}/v1.0/$metadata#{set_name}/$entity"
        if select is not None:
            context = f"{req.base}/v1.0/$metadata#{set_name}({','.join(select)})/$entity"
        return {"@odata.context": context, **schema.project(record, select, default, odata_type)}

    def _list(self, req: ApiRequest, records: list[dict[str, Any]], kind: str, set_name: str,
              members_of: str | None = None) -> dict[str, Any]:
        query = req.query
        advanced = req.headers.get("consistencylevel", "").lower() == "eventual"
        if "$skip" in query:
            raise GraphFault(400, "Request_BadRequest", "'$skip' is not supported by the service.")
        if "$orderby" in query:
            raise GraphFault(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
        want_count = query.get("$count", "").lower() == "true"
        if want_count and not advanced:
            raise GraphFault(400, "Request_BadRequest", "$count is not currently supported.")
        top = odata.parse_top(query.get("$top"))
        typed: list[tuple[str, dict[str, Any]]]
        if members_of is not None:
            typed = self.directory.members(members_of)
        else:
            typed = [(kind, r) for r in records]
        filterable = (schema.USER_FILTERABLE if kind == "user" else schema.GROUP_FILTERABLE if kind == "group"
                      else schema.USER_FILTERABLE | schema.GROUP_FILTERABLE)
        resource = {"user": "User", "group": "Group"}.get(kind, "DirectoryObject")
        select = odata.parse_select(query.get("$select"), kind, self._properties(kind))
        predicate = (odata.FilterParser(query["$filter"], resource, filterable, advanced).parse()
                     if query.get("$filter") else (lambda _obj: True))
        search = query.get("$search")
        if search is not None:
            if not advanced:
                raise GraphFault(400, "Request_UnsupportedQuery", "Request with $search query parameter only works "
                                 "through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
            predicate = _search_predicate(search, predicate)
        typed.sort(key=lambda item: item[1]["_seq"])
        matched = [(t, r) for t, r in typed if predicate(r)]
        after = odata.decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        remaining = [(t, r) for t, r in matched if r["_seq"] > after]
        page = [] if req.empty_page else remaining[:top]
        more = req.empty_page or len(remaining) > top
        context_set = set_name if select is None else f"{set_name}({','.join(select)})"
        body: dict[str, Any] = {"@odata.context": f"{req.base}/v1.0/$metadata#{context_set}"}
        if want_count and "$skiptoken" not in query:
            body["@odata.count"] = len(matched)
        if more:
            next_after = page[-1][1]["_seq"] if page else after
            kept = "&".join(f"{k}={quote(v, safe=',()$')}" for k, v in query.items() if k != "$skiptoken")
            token = odata.encode_skiptoken(next_after)
            body["@odata.nextLink"] = f"{req.base}/v1.0{req.path}?{kept + '&' if kept else ''}$skiptoken={token}"
        with_type = members_of is not None
        body["value"] = [schema.project(r, select, self._defaults(t), t if with_type else None) for t, r in page]
        return body


def _search_predicate(search: str, base: Any) -> Any:
    """`$search="displayName:ann"`: tokenised prefix match on displayName, mail, userPrincipalName (simplified)."""
    clauses = []
    for part in search.split(" AND "):
        part = part.strip().strip('"')
        prop, _, value = part.partition(":")
        if prop not in ("displayName", "mail", "userPrincipalName", "mailNickname") or not value:
            raise GraphFault(400, "Request_UnsupportedQuery", f"Unsupported $search clause: {part}")
        clauses.append((prop, value.lower()))

    def matches(obj: dict[str, Any]) -> bool:
        return base(obj) and all(value in str(obj.get(prop) or "").lower() for prop, value in clauses)

    return matches

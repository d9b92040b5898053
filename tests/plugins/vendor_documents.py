"""pytest plugin: every request a connector sends to a peer, and every answer, checked against the vendor's document.

An autouse fixture wraps `httpx.AsyncHTTPTransport` (the bottom of every connector's client: Atlassian, Bitbucket,
msgraph-sdk) for the whole test: Atlassian requests and answers go through openapi-core with Atlassian's OpenAPI
document, Bitbucket answers through the Swagger-subset checker, Graph answers through msgraph-sdk's models
and Microsoft's documented error shape. A mismatch fails the test at its end with the rule it broke. The
documents' own known faults (tests/specs/README.md) are allowed here, in `KNOWN_FAULTS`, and nowhere else.
Requests the tests send themselves with a synchronous client (to set a peer up, or to break a rule on purpose)
are not checked.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

SPECS = Path(__file__).resolve().parents[1] / "specs"
ATLASSIAN_HOST = "https://api.atlassian.com"

# The documents' own faults, allowed explicitly (each one is listed in tests/specs/README.md).
KNOWN_FAULTS = {
    "atlassian: schemas and externalId marked readOnly although every create sends them":
        lambda doc: [doc["components"]["schemas"][name]["properties"][prop].pop("readOnly", None)
                     for name in ("ScimUser", "ScimGroup") for prop in ("schemas", "externalId")
                     if prop in doc["components"]["schemas"][name]["properties"]],
    "atlassian: the PATCH body's list is named operations (RFC 7644 and Atlassian's example: Operations)":
        lambda doc: doc["components"]["schemas"]["RequestPayloadToPatch"]["properties"].__setitem__(
            "Operations", doc["components"]["schemas"]["RequestPayloadToPatch"]["properties"]["operations"]),
}

def _any_json(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["JsonNode"] = {}


def _discovery_is_json(doc: dict[str, Any]) -> None:
    for path in ("ServiceProviderConfig", "Schemas", "ResourceTypes", "ResourceTypes/User", "ResourceTypes/Group"):
        for content in doc["paths"][f"/scim/directory/{{directoryId}}/{path}"]["get"]["responses"]["200"][
                "content"].values():
            content["schema"] = {"type": "object"}


def _resource_type_names(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["ScimMetadata"]["properties"]["resourceType"].pop("enum", None)


def _conflict_on_change(doc: dict[str, Any]) -> None:
    users = doc["paths"]["/scim/directory/{directoryId}/Users/{userId}"]
    conflict = doc["paths"]["/scim/directory/{directoryId}/Users"]["post"]["responses"]["409"]
    for method in ("patch", "put"):
        users[method]["responses"].setdefault("409", conflict)


KNOWN_FAULTS.update({
    "atlassian: a PATCH operation's value is Jackson's JsonNode described as an object with its Java getters "
    "(any JSON in fact)": _any_json,
    "atlassian: ServiceProviderConfig, Schemas and ResourceTypes are declared as strings; they answer JSON objects":
        _discovery_is_json,
    "atlassian: meta.resourceType is declared as the Java enum USER/GROUP/DIRECTORY; Atlassian's examples and "
    "clients show User/Group (which the live API sends is UNCONFIRMED)": _resource_type_names,
    "atlassian: 409 is not listed for PATCH/PUT Users; Atlassian's KB documents it for an e-mail held by another "
    "account": _conflict_on_change,
})
# What the documents say only in prose, made a rule of the schema.
PROSE_RULES = {
    "atlassian: userName and emails are required during user creation or modification":
        lambda doc: doc["components"]["schemas"]["ScimUser"].__setitem__("required", ["userName", "emails"]),
}


@cache
def atlassian_openapi() -> Any:
    """openapi-core's view of Atlassian's document, with the known faults allowed and the prose rules added."""
    from openapi_core import Config, OpenAPI

    doc = json.loads((SPECS / "atlassian-user-provisioning.openapi.json").read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    for patch in (*KNOWN_FAULTS.values(), *PROSE_RULES.values()):
        patch(doc)
    config = Config(extra_media_type_deserializers={"application/scim+json": json.loads})
    return OpenAPI.from_dict(doc, config=config)


@cache
def bitbucket_checker() -> Any:
    from tests.plugins.bitbucket import SPEC_PATH, SpecChecker

    return SpecChecker(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


class _OpenAPIRequest:
    """An httpx request as openapi-core reads one, on Atlassian's host."""

    def __init__(self, request: httpx.Request, body: bytes) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = request.method.lower()
        self.host_url = ATLASSIAN_HOST
        self.path = request.url.path
        self.body = body or None
        self.content_type = request.headers.get("Content-Type", "application/json").split(";")[0]
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qs(request.url.query.decode())),
                                            header=Headers(dict(request.headers)), cookie=ImmutableMultiDict())


class _OpenAPIResponse:
    def __init__(self, response: httpx.Response, body: bytes) -> None:
        from werkzeug.datastructures import Headers

        self.data = body
        self.status_code = response.status_code
        self.content_type = response.headers.get("Content-Type", "").split(";")[0] or "application/json"
        self.headers = Headers(dict(response.headers))


def _rule(exc: Exception) -> str:
    """The rule a mismatch broke, with openapi-core's nested schema errors spelled out."""
    parts = [str(exc)]
    for inner in getattr(exc, "schema_errors", None) or []:
        parts.append(f"{'/'.join(map(str, inner.absolute_path)) or '$'}: {inner.message}")
    cause = exc.__cause__
    for inner in getattr(cause, "schema_errors", None) or []:
        parts.append(f"{'/'.join(map(str, inner.absolute_path)) or '$'}: {inner.message}")
    return "; ".join(parts)


def check_atlassian(request: httpx.Request, body: bytes, response: httpx.Response, answer: bytes) -> list[str]:
    openapi = atlassian_openapi()
    where = f"{request.method} {request.url.path}"
    found: list[str] = []
    openapi_request = _OpenAPIRequest(request, body)
    try:
        openapi.validate_request(openapi_request)
    except Exception as exc:  # noqa: BLE001 - every openapi-core error is a mismatch to report
        found.append(f"Atlassian request {where}: {_rule(exc)}")
    if response.status_code < 500:
        try:
            openapi.validate_response(openapi_request, _OpenAPIResponse(response, answer))
        except Exception as exc:  # noqa: BLE001
            found.append(f"Atlassian answer {response.status_code} to {where}: {_rule(exc)}")
    return found


def check_bitbucket(request: httpx.Request, response: httpx.Response, answer: bytes) -> list[str]:
    if not request.url.path.startswith("/2.0/"):
        return []  # the OAuth token endpoint (bitbucket.org/site/oauth2) is outside the REST document
    if request.method != "GET":
        return [f"Bitbucket request {request.method} {request.url.path}: the source only reads"]
    try:
        body = json.loads(answer) if answer else None
        return [f"Bitbucket answer to GET {request.url.path}: {e}"
                for e in bitbucket_checker().check_response("GET", str(request.url), response.status_code, body)]
    except AssertionError as exc:
        return [f"Bitbucket request GET {request.url.path}: {exc}"]


GRAPH_ERROR_CODES_REQUIRED = ("code", "message")


def check_graph(request: httpx.Request, response: httpx.Response, answer: bytes) -> list[str]:
    """Microsoft's documented error shape ({"error": {"code", "message", "innerError"?}}) and, for answers with a
    body, msgraph-sdk's models (an answer the SDK cannot read is wrong)."""
    where = f"{request.method} {request.url.path}"
    if not answer or "json" not in response.headers.get("Content-Type", ""):
        return []
    try:
        body = json.loads(answer)
    except ValueError:
        return [f"Graph answer to {where}: not JSON"]
    if "/oauth2/" in request.url.path:  # the Microsoft identity platform's token endpoint: OAuth 2.0's error shape
        if response.status_code >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str)):
            return [f"token error {response.status_code} to {where}: not {{'error': str, 'error_description'}}"]
        return []
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not all(isinstance(error.get(k), str) for k in GRAPH_ERROR_CODES_REQUIRED):
            return [f"Graph error {response.status_code} to {where}: not {{'error': {{'code', 'message'}}}}"]
        return []
    return graph_model_problems(where, body)


def graph_model_problems(where: str, body: Any) -> list[str]:
    """Parse a Graph answer with msgraph-sdk's models: a user, group or collection of them."""
    from kiota_serialization_json.json_parse_node import JsonParseNode
    from msgraph.generated.models.directory_object_collection_response import DirectoryObjectCollectionResponse
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.user import User

    if not isinstance(body, dict):
        return [f"Graph answer to {where}: not a JSON object"]
    kind = str(body.get("@odata.type", ""))
    is_group = kind.endswith("group") or (not kind and where.split(" ", 1)[-1].startswith("/v1.0/groups"))
    model: Any = DirectoryObjectCollectionResponse if "value" in body else (Group if is_group else User)
    try:
        JsonParseNode(body).get_object_value(model)
    except Exception as exc:  # noqa: BLE001 - the SDK could not read it
        return [f"Graph answer to {where}: msgraph-sdk cannot read it as {model.__name__}: {exc}"]
    return []


PEERS: dict[str, str] = {}  # "host:port" of each running peer -> the vendor it stands in for


def register_peer(url: str, vendor: str) -> None:
    """Check what is sent to and answered by the peer at `url` against `vendor`'s document (the peers' fixtures
    call this; a deliberately broken fake target, such as the echo server of the redaction tests, is not one)."""
    parts = urlsplit(url)
    PEERS[f"{parts.hostname}:{parts.port}"] = vendor


def unregister_peer(url: str) -> None:
    parts = urlsplit(url)
    PEERS.pop(f"{parts.hostname}:{parts.port}", None)


def route(request: httpx.Request) -> str:
    vendor = PEERS.get(f"{request.url.host}:{request.url.port}", "")
    if vendor == "atlassian" and not request.url.path.startswith("/scim/directory/"):
        return ""  # the peer's own settings endpoint
    return vendor


class Mismatches(list[str]):
    """What the vendor documents refused during one test."""


@pytest.fixture(autouse=True)
def vendor_documents(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mismatches]:
    mismatches = Mismatches()
    original = httpx.AsyncHTTPTransport.handle_async_request

    async def checked(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        target = route(request)
        if not target:
            return await original(self, request)
        body = await request.aread()
        response = await original(self, request)
        answer = b"".join([chunk async for chunk in response.aiter_raw()])  # the peers send no content-encoding
        await response.aclose()
        if target == "atlassian":
            mismatches.extend(check_atlassian(request, body, response, answer))
        elif target == "bitbucket":
            mismatches.extend(check_bitbucket(request, response, answer))
        else:
            mismatches.extend(check_graph(request, response, answer))
        # the body was read here: hand on a fresh stream of it, for whatever wraps this transport (size limits…)
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(answer),
                              extensions=response.extensions, request=request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", checked)
    yield mismatches
    if mismatches:
        unique = list(dict.fromkeys(mismatches))
        pytest.fail("the vendor's document refuses what was sent or answered:\n  " + "\n  ".join(unique[:20]),
                    pytrace=False)

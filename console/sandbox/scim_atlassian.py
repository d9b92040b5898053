"""scim2-server configured to answer as Atlassian's user-provisioning directory documents (run as a module).

What it changes in scim2-server, each from Atlassian's OpenAPI document (`tests/specs/`): resources live under
`/scim/directory/{directoryId}`; a user has top-level `department` and `organization`; PATCH answers 200 with
the resource (scim2-server answers 204); a user must keep an e-mail on a verified domain of the directory (on
create and on every change); userName, e-mail and group displayName are unique (409 `uniqueness`, Atlassian's
detail); DELETE of a user drops the SCIM record and its group memberships; 401 has Atlassian's `Failure` shape.
The verified domains are a setting of the peer: `--verified-domain` for every directory, or
`PUT /_peer/{directoryId}/verified-domains` (bearer token; a JSON list) for one directory.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from scim2_models import (
    Attribute,
    InvalidValueException,
    Resource,
    ResourceType,
    ScimProvider,
    UniquenessException,
)
from scim2_server.applications.wsgi import TenantDispatcher
from scim2_server.memory import InMemoryStorage
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config

PREFIX = "/scim/directory"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
DISCOVERY = {"ServiceProviderConfig", "Schemas", "ResourceTypes"}
TOP_LEVEL_EXTRAS = ("department", "organization")  # the spec's ScimUser has them beside the core attributes


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _emails(resource: Resource[Any]) -> list[str]:
    return [str(e.value) for e in getattr(resource, "emails", None) or [] if getattr(e, "value", None)]


class AtlassianStorage(InMemoryStorage):
    """scim2-server's storage with Atlassian's rules: e-mail required on a verified domain, unique e-mail and
    group name, and a deleted user leaving its groups."""

    def __init__(self, verified_domains: Iterable[str] | None) -> None:
        super().__init__()
        self.verified_domains = {d.casefold() for d in verified_domains} if verified_domains is not None else None

    def _check(self, resource: Resource[Any], resource_type: ResourceType) -> None:
        if resource_type.name == "User":
            emails = _emails(resource)
            if not emails:
                raise InvalidValueException(detail="Resource [USER]: emails is required during user creation or "
                                                   "modification")
            for address in emails:
                domain = address.rpartition("@")[2].casefold()
                if self.verified_domains is not None and domain not in self.verified_domains:
                    raise InvalidValueException(detail=f"Resource [USER]: email [{address}] is not on a verified "
                                                       "domain of the organization")
            taken = {e.casefold() for e in emails}
            for other in self._resources.get("User", {}).values():
                if other.id != resource.id and taken & {e.casefold() for e in _emails(other)}:
                    clash = sorted(taken & {e.casefold() for e in _emails(other)})[0]
                    raise UniquenessException(detail=f"Resource [USER]: with email[{clash}] already exists.")
        elif resource_type.name == "Group":
            name = str(getattr(resource, "display_name", "") or "").casefold()
            for other in self._resources.get("Group", {}).values():
                if other.id != resource.id and str(getattr(other, "display_name", "") or "").casefold() == name:
                    raise UniquenessException(detail="Resource [GROUP]: with displayName["
                                                     f"{getattr(resource, 'display_name', '')}] already exists.")

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        with self.lock:
            self._check(resource, resource_type)
            try:
                return super().create(resource_type, resource)
            except UniquenessException:
                raise UniquenessException(detail=f"Resource [USER]: with userName[{getattr(resource, 'user_name', '')}]"
                                                 " already exists.") from None

    def update(self, resource_type: ResourceType, resource: Resource[Any], *,
               expected_version: str | None = None) -> Resource[Any]:
        with self.lock:
            self._check(resource, resource_type)
            return super().update(resource_type, resource, expected_version=expected_version)

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None) -> None:
        with self.lock:
            super().delete(resource_type, resource_id, expected_version=expected_version)
            if resource_type.name != "User":
                return
            for group in list(self._resources.get("Group", {}).values()):
                members = getattr(group, "members", None) or []
                if any(m.value == resource_id for m in members):
                    setattr(group, "members", [m for m in members if m.value != resource_id] or None)  # noqa: B010


class AtlassianService(ScimService):
    """PATCH answers 200 with the resource, as Atlassian documents (scim2-server may answer 204)."""

    def patch_response(self, base_url: str, resource: Resource[Any], response_parameters: Any) -> ScimResponse:
        from scim2_models import Context
        return self.resource_response(self.publish(base_url, resource), Context.RESOURCE_REPLACEMENT_RESPONSE,
                                      response_parameters)


def _failure(start_response: Any, status: int, message: str) -> list[bytes]:
    """Atlassian's `Failure` shape ({error, traceId}), used for 401 and 403."""
    body = json.dumps({"error": message, "traceId": secrets.token_hex(8)}).encode()
    start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json"),
                                                            ("Content-Length", str(len(body)))])
    return [body]


class AtlassianDirectoryApp:
    """The WSGI front: `/scim/directory` prefix, the peer's settings endpoint, and Atlassian's 401 shape."""

    def __init__(self, dispatcher: TenantDispatcher, storages: dict[str, AtlassianStorage], tokens: set[str]) -> None:
        self.dispatcher, self.storages, self.tokens = dispatcher, storages, tokens

    def _authorized(self, environ: dict[str, Any]) -> bool:
        scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        return not self.tokens or (scheme.lower() == "bearer" and token in self.tokens)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/_peer/"):
            return self._settings(environ, start_response, path)
        if path.startswith(PREFIX + "/"):
            environ["SCRIPT_NAME"] = str(environ.get("SCRIPT_NAME", "")) + PREFIX
            environ["PATH_INFO"] = path[len(PREFIX):]
        discovery = environ["PATH_INFO"].rstrip("/").rsplit("/", 1)[-1] in DISCOVERY
        if not discovery and not self._authorized(environ):
            return _failure(start_response, 401, "Unauthorized: the directory API key is missing or invalid")
        return self.dispatcher(environ, start_response)

    def _settings(self, environ: dict[str, Any], start_response: Any, path: str) -> list[bytes]:
        directory_id, _, name = path[len("/_peer/"):].partition("/")
        if not self._authorized(environ):
            return _failure(start_response, 401, "Unauthorized")
        storage = self.storages.get(directory_id)
        if storage is None or name != "verified-domains" or environ.get("REQUEST_METHOD") != "PUT":
            return _failure(start_response, 404, "no such peer setting")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        domains = json.loads(environ["wsgi.input"].read(length) or b"null")
        storage.verified_domains = None if domains is None else {str(d).casefold() for d in domains}
        start_response("204 No Content", [])
        return []


def build_app(tenants: list[str], tokens: list[str], verified_domains: list[str] | None) -> AtlassianDirectoryApp:
    """The WSGI application of an Atlassian-like directory per tenant."""
    schemas = load_default_schemas()
    user_schema = schemas[CORE_USER]
    user_schema.attributes = [*(user_schema.attributes or []),
                              *(Attribute.model_validate({"name": n, "type": "string", "multiValued": False,
                                                          "required": False, "caseExact": False,
                                                          "mutability": "readWrite", "returned": "default",
                                                          "uniqueness": "none"})
                                for n in TOP_LEVEL_EXTRAS)]
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(schemas.values(), load_default_resource_types().values(), config=config)
    service = AtlassianService(provider, secret=secrets.token_urlsafe(32))
    storages: dict[str, AtlassianStorage] = {}
    lock = threading.Lock()

    def make(tenant: str) -> BearerTokenApplication | None:
        if tenant not in tenants:
            return None
        with lock:
            storage = storages.setdefault(tenant, AtlassianStorage(verified_domains))
        return BearerTokenApplication(storage, provider, service=service, bearer_tokens=tokens)

    for tenant in tenants:
        storages[tenant] = AtlassianStorage(verified_domains)
    return AtlassianDirectoryApp(TenantDispatcher(make), storages, set(tokens))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m console.sandbox.scim_atlassian", description=__doc__)
    parser.add_argument("--hostname", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: a free port the system chooses")
    parser.add_argument("--port-file", type=Path, default=None,
                        help="where to write the bound port once the server listens (for a parent process)")
    parser.add_argument("--bearer-token", action="append", default=[])
    parser.add_argument("--tenant", action="append", default=[])
    parser.add_argument("--verified-domain", action="append", default=None,
                        help="a verified domain of every directory (repeat); none given: every domain is verified")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = build_app(args.tenant, args.bearer_token, args.verified_domain)
    with make_server(args.hostname, args.port, app, server_class=ThreadingWSGIServer) as server:  # type: ignore[arg-type]
        port = server.server_port
        if args.port_file is not None:  # written whole, then renamed: a reader never sees half a number
            partial = args.port_file.with_name(args.port_file.name + ".part")
            partial.write_text(str(port), encoding="ascii")
            os.replace(partial, args.port_file)
        print(f"Serving Atlassian-like SCIM on http://{args.hostname}:{port}{PREFIX}/{{directoryId}}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

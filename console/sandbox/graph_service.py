"""The Graph sandbox behind its HTTP layer: the tenant, the token endpoint, bearer checks, fault injection
(throttling, lost answers, dropped connections, empty pages) and the control API used by tests and rehearsals.
"""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from console.sandbox.graph_api import ApiRequest, GraphApi, route_name
from console.sandbox.graph_directory import Directory
from console.sandbox.graph_errors import GraphFault, error_body, token_error

SANDBOX_TENANT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SANDBOX_CLIENT_ID = "5a7c0de1-0b5e-4d3a-9c41-1d0c5a4d0b0c"
SANDBOX_CLIENT_SECRET = secrets.token_urlsafe(24)  # per process: tests and benches read it from here
SANDBOX_DOMAINS = ("contoso.onmicrosoft.com", "contoso.com")

@dataclass
class Fault:
    """Answer the next `count` matching Graph calls with `status`; mode `after` applies the call first (the
    client never learns it succeeded), `reset` applies it and drops the connection without an answer."""

    status: int = 429
    count: int = 1
    retry_after: float | None = 1
    method: str = ""
    path: str = ""
    mode: str = "before"  # before | after | reset

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and (not self.method or self.method.upper() == method)
                and (not self.path or self.path.lower() in path.lower()))


_FAULT_BODIES = {
    429: ("TooManyRequests", "Too many requests."),
    503: ("serviceNotAvailable", "Service unavailable."),
    504: ("UnknownError", "The gateway did not receive a timely response."),
    500: ("generalException", "General exception while processing."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
}


@dataclass
class SandboxConfig:
    tenant_id: str = SANDBOX_TENANT_ID
    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET
    domains: tuple[str, ...] = SANDBOX_DOMAINS
    token_lifetime: int = 3599
    data: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False


class GraphSandbox:
    """The whole sandbox behind the HTTP layer: tenant, tokens, faults, request log."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        self.faults: list[Fault] = []
        self.empty_pages = 0
        self.requests: list[dict[str, Any]] = []
        self.latency = 0.0  # seconds each Graph call takes (outside the lock, so calls overlap like real ones)
        self.in_flight = 0
        self.max_in_flight = 0
        self.reset()

    def reset(self, users: list[dict[str, Any]] | None = None) -> None:
        """Back to the starting state: the `--data` users (or `users`), no faults, an empty request log."""
        with self.lock:
            self.directory = Directory(self.config.tenant_id, list(self.config.domains))
            self.directory.load_users(self.config.data if users is None else users)
            self.api = GraphApi(self.directory)
            self.faults = []
            self.empty_pages = 0
            self.requests = []
            self.latency = 0.0
            self.max_in_flight = 0

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.latency:
            time.sleep(self.latency)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # --- token endpoint ------------------------------------------------------------------------------------------
    def token(self, tenant: str, form: dict[str, str]) -> Reply:
        cfg = self.config
        if tenant.lower() not in {cfg.tenant_id.lower(), *self.directory.domains}:
            status, body = token_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make "
                                       "sure you have the correct tenant ID and are signing into the correct cloud.")
        elif form.get("grant_type") != "client_credentials":
            status, body = token_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant "
                                       f"type '{form.get('grant_type', '')}'.")
        elif form.get("client_id") != cfg.client_id:
            status, body = token_error(400, "unauthorized_client", 700016, f"Application with identifier "
                                       f"'{form.get('client_id', '')}' was not found in the directory '{tenant}'. This "
                                       "can happen if the application has not been installed by the administrator of "
                                       "the tenant or consented to by any user in the tenant. You may have sent your "
                                       "authentication request to the wrong tenant.")
        elif not secrets.compare_digest(form.get("client_secret", ""), cfg.client_secret):
            status, body = token_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                                       "secret being sent in the request is the client secret value, not the client "
                                       f"secret ID, for a secret added to app '{cfg.client_id}'.")
        elif not form.get("scope", "").endswith("/.default"):
            status, body = token_error(400, "invalid_scope", 1002012, f"The provided value for scope "
                                       f"{form.get('scope', '')} is not valid. Client credential flows must have a "
                                       "scope value with /.default suffixed to the resource identifier (application "
                                       "ID URI).")
        else:
            access_token = "sbx." + secrets.token_urlsafe(32)
            with self.lock:
                self.tokens[access_token] = time.time() + cfg.token_lifetime
            return Reply(200, {"token_type": "Bearer", "expires_in": cfg.token_lifetime,
                               "ext_expires_in": cfg.token_lifetime, "access_token": access_token})
        return Reply(status, body)

    # --- Graph calls ---------------------------------------------------------------------------------------------
    def graph(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: dict[str, Any],
              base: str) -> Reply:
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id", request_id)
        common = {"request-id": request_id, "client-request-id": client_request_id,
                  "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"0"}}'}
        req = ApiRequest(method, path, query, headers, body, base, route=route_name(method, path))
        entry = {"method": method, "path": path, "query": query,
                 "consistency_level": headers.get("consistencylevel", ""),
                 "retry_attempt": headers.get("retry-attempt", ""), "status": 0}

        def fail(fault: GraphFault) -> Reply:
            return Reply(fault.status, error_body(fault, request_id, client_request_id), {**common, **fault.headers})

        with self.lock:
            self.requests.append(entry)
            del self.requests[:-20000]
            reply = self._authorize(headers)
            fault = None if reply else self._take_fault(method, path)
            if reply is None and fault is not None and fault.mode == "before":
                reply = fail(self._fault_error(fault))
            if reply is None:
                if self.empty_pages > 0 and method == "GET":
                    req.empty_page = True
                try:
                    status, payload = self.api.route(req)
                    if req.empty_page and payload is not None and "value" in payload:
                        self.empty_pages -= 1
                    reply = Reply(status, payload, dict(common))
                except GraphFault as exc:
                    reply = fail(exc)
                if fault is not None:
                    reply = fail(self._fault_error(fault))
                    reply.reset = fault.mode == "reset"
            entry.update(status=reply.status, route=req.route)
            if reply.status == 401:
                reply.headers = {**common, **reply.headers, "WWW-Authenticate": 'Bearer realm="", authorization_uri='
                                 '"https://login.microsoftonline.com/common/oauth2/authorize", '
                                 'client_id="00000003-0000-0000-c000-000000000000"'}
            return reply

    def _authorize(self, headers: dict[str, str]) -> Reply | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            message = "Access token is empty."
        elif token not in self.tokens:
            message = "IDX14100: JWT is not well formed, there are no dots (.)."
        elif self.tokens[token] < time.time():
            message = "Lifetime validation failed, the token is expired."
        else:
            return None
        request_id = str(uuid.uuid4())
        fault = GraphFault(401, "InvalidAuthenticationToken", message)
        return Reply(401, error_body(fault, request_id, headers.get("client-request-id", request_id)),
                     {"request-id": request_id})

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                return fault
        return None

    @staticmethod
    def _fault_error(fault: Fault) -> GraphFault:
        code, message = _FAULT_BODIES.get(fault.status, ("UnknownError", "Injected failure."))
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        return GraphFault(fault.status, code, message, headers)

    # --- control API ---------------------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any) -> Reply:
        with self.lock:
            if path == "/_sandbox/faults" and method == "POST":
                rules = body if isinstance(body, list) else [body]
                self.faults.extend(Fault(**rule) for rule in rules)
                return Reply(200, {"faults": [vars(f) for f in self.faults]})
            if path == "/_sandbox/faults" and method == "DELETE":
                self.faults = []
                self.empty_pages = 0
                self.directory.consistency_lag = 0
                return Reply(204)
            if path == "/_sandbox/settings" and method == "POST":
                if "consistency_lag" in body:
                    self.directory.consistency_lag = int(body["consistency_lag"])
                if "empty_pages" in body:
                    self.empty_pages = int(body["empty_pages"])
                if "latency" in body:
                    self.latency = float(body["latency"])
                return Reply(200, {"consistency_lag": self.directory.consistency_lag, "empty_pages": self.empty_pages,
                                   "latency": self.latency})
            if path == "/_sandbox/reset" and method == "POST":
                self.reset(body.get("users") if isinstance(body, dict) else None)
                return Reply(204)
            if path == "/_sandbox/requests" and method == "GET":
                return Reply(200, {"requests": list(self.requests), "max_in_flight": self.max_in_flight})
            if path == "/_sandbox/requests" and method == "DELETE":
                self.requests = []
                return Reply(204)
            if path == "/_sandbox/signin" and method == "POST":
                result = self.directory.sign_in(str(body.get("userPrincipalName", "")), str(body.get("password", "")))
                return Reply(200, {"result": result})
        return Reply(404, {"error": {"code": "NotFound", "message": f"no control endpoint {method} {path}"}})

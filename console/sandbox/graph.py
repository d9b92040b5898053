"""A local Microsoft Graph (Entra ID) sandbox on 127.0.0.1: token endpoint, bearer check, `/v1.0` users, groups,
licences and deleted items with Graph's documented behaviour, plus switches for throttling and replication lag.

Run it: `python -m console.sandbox graph --port 8765 [--data users.json]`; in tests: `start_in_thread()`.
Control API (no auth, for tests and rehearsals): `POST|DELETE /_sandbox/faults` (a `Fault` as JSON),
`POST /_sandbox/settings` {consistency_lag, empty_pages, latency}, `POST /_sandbox/reset` [{users: [...]}],
`GET|DELETE /_sandbox/requests` (the request log), `POST /_sandbox/signin` {userPrincipalName, password}.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from console.sandbox.graph_api import ApiRequest, GraphApi, route_name
from console.sandbox.graph_directory import Directory
from console.sandbox.graph_errors import GraphFault, error_body, token_error

log = logging.getLogger("console.sandbox.graph")

SANDBOX_TENANT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SANDBOX_CLIENT_ID = "5a7c0de1-0b5e-4d3a-9c41-1d0c5a4d0b0c"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"
SANDBOX_DOMAINS = ("contoso.onmicrosoft.com", "contoso.com")
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        base = f"http://{self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]}"
        token_match = _TOKEN_PATH.match(path)
        try:
            if token_match and self.command == "POST":
                reply = sandbox.token(token_match.group(1), dict(parse_qsl(raw.decode("utf-8"))))
            elif path.startswith("/_sandbox/"):
                reply = sandbox.control(self.command, path, json.loads(raw or b"{}"))
            elif path == "/v1.0" or path.startswith("/v1.0/"):
                body = json.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                sandbox.enter()
                try:
                    reply = sandbox.graph(self.command, path[len("/v1.0"):] or "/", query, headers, body, base)
                finally:
                    sandbox.leave()
            else:
                fault = GraphFault(400, "BadRequest", "Invalid version.")
                reply = Reply(400, error_body(fault, str(uuid.uuid4()), headers.get("client-request-id", "")))
        except ValueError as exc:
            fault = GraphFault(400, "BadRequest", f"Unable to read JSON request payload: {exc}")
            reply = Reply(400, error_body(fault, str(uuid.uuid4()), headers.get("client-request-id", "")))
        if reply.reset:
            self.close_connection = True
            return
        payload = json.dumps(reply.body, ensure_ascii=False).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None:
            self.send_header("Content-Type", JSON_TYPE if not token_match else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, sandbox: GraphSandbox) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.sandbox = sandbox


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread; unpacks as `(url, stop)`."""

    url: str
    sandbox: GraphSandbox
    server: _Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.url, self.stop))


def start_in_thread(port: int = 0, data: list[dict[str, Any]] | None = None, **config: Any) -> RunningSandbox:
    """Start a sandbox on 127.0.0.1 (port 0 = a free port). `url` is the server root, Graph is at `url + '/v1.0'`."""
    sandbox = GraphSandbox(SandboxConfig(data=list(data or []), **config))
    server = _Server(port, sandbox)
    thread = threading.Thread(target=server.serve_forever, name="graph-sandbox", daemon=True)
    thread.start()
    return RunningSandbox(f"http://127.0.0.1:{server.server_address[1]}", sandbox, server, thread)


def load_data(path: str | None) -> list[dict[str, Any]]:
    if not path:
        return []
    documents = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    if isinstance(documents, dict) and "value" in documents:
        documents = documents["value"]
    if not isinstance(documents, list):
        raise SystemExit(f"{path}: expected a JSON list of Graph user objects")
    return documents


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--data", help="JSON file: a list of Graph user objects to start with")
    parser.add_argument("--tenant-id", default=SANDBOX_TENANT_ID)
    parser.add_argument("--client-id", default=SANDBOX_CLIENT_ID)
    parser.add_argument("--client-secret", default=SANDBOX_CLIENT_SECRET,
                        help="the secret the token endpoint accepts (a sandbox value, not a real one)")
    parser.add_argument("--domain", action="append", dest="domains", help="verified domain (repeatable)")
    parser.add_argument("--throttle", type=int, default=0, help="answer the next N Graph calls with 429")
    parser.add_argument("--retry-after", type=float, default=1, help="Retry-After seconds sent with --throttle")
    parser.add_argument("--consistency-lag", type=int, default=0,
                        help="a new user or group answers 404 to its next N direct references")
    parser.add_argument("--empty-pages", type=int, default=0, help="answer the next N list calls with an empty page")


def serve(args: argparse.Namespace) -> int:
    running = start_in_thread(args.port, load_data(args.data), tenant_id=args.tenant_id, client_id=args.client_id,
                              client_secret=args.client_secret, domains=tuple(args.domains or SANDBOX_DOMAINS))
    sandbox = running.sandbox
    if args.throttle:
        sandbox.faults.append(Fault(status=429, count=args.throttle, retry_after=args.retry_after))
    sandbox.directory.consistency_lag = args.consistency_lag
    sandbox.empty_pages = args.empty_pages
    print(f"Graph sandbox: {running.url}/v1.0  token: {running.url}/{args.tenant_id}/oauth2/v2.0/token  "
          f"client id: {args.client_id}  users: {len(sandbox.directory.users)}", flush=True)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0

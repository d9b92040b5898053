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
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from console.sandbox import host_port, secret_from_env
from console.sandbox.graph_errors import GraphFault, error_body
from console.sandbox.graph_service import (
    SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_DOMAINS, SANDBOX_TENANT_ID, Fault, GraphSandbox, Reply,
    SandboxConfig,
)

log = logging.getLogger("console.sandbox.graph")
__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "SANDBOX_DOMAINS", "SANDBOX_TENANT_ID", "Fault",
           "GraphSandbox", "RunningSandbox", "SandboxConfig", "add_arguments", "serve", "start_in_thread"]

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")


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
        base = f"http://{self.headers.get('Host') or '%s:%d' % host_port(self.server)}"
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
        except (ValueError, TypeError, KeyError) as exc:
            fault = GraphFault(400, "BadRequest", f"Unable to read the request payload: {exc}")
            reply = Reply(400, error_body(fault, str(uuid.uuid4()), headers.get("client-request-id", "")))
        except Exception:  # a sandbox bug: answer like Graph's 500 instead of dropping the connection
            log.exception("graph sandbox: %s %s failed", self.command, path)
            fault = GraphFault(500, "generalException", "General exception while processing.")
            reply = Reply(500, error_body(fault, str(uuid.uuid4()), headers.get("client-request-id", "")))
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
    parser.add_argument("--secret-env", default="GRAPH_SANDBOX_SECRET",
                        help="environment variable holding the client secret the token endpoint accepts")
    parser.add_argument("--domain", action="append", dest="domains", help="verified domain (repeatable)")
    parser.add_argument("--throttle", type=int, default=0, help="answer the next N Graph calls with 429")
    parser.add_argument("--retry-after", type=float, default=1, help="Retry-After seconds sent with --throttle")
    parser.add_argument("--consistency-lag", type=int, default=0,
                        help="a new user or group answers 404 to its next N direct references")
    parser.add_argument("--empty-pages", type=int, default=0, help="answer the next N list calls with an empty page")


def serve(args: argparse.Namespace) -> int:
    running = start_in_thread(args.port, load_data(args.data), tenant_id=args.tenant_id, client_id=args.client_id,
                              client_secret=secret_from_env(args.secret_env, "Graph"), domains=tuple(args.domains or SANDBOX_DOMAINS))
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

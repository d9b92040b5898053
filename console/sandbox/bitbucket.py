"""A local Bitbucket Cloud sandbox (read side): workspace members, permissions, users, OAuth tokens.

Follows Bitbucket's documented behaviour (TARGETS.md §2): page/pagelen pagination with an absolute
`next`, pagelen above 100 → 400 "Invalid pagelen", error bodies `{"type":"error","error":{...}}`,
client-credentials tokens that expire, 429 with Retry-After above a configurable rate, and a switch
that makes one page repeat (BCLOUD-22441). Standard library only; binds 127.0.0.1.
"""
from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from console.sandbox import host_port, secret_from_env
from console.sandbox.bitbucket_data import BitbucketState, make_membership

__all__ = ["BitbucketState", "SandboxHandle", "add_arguments", "make_membership", "serve", "start_in_thread"]


def _error(message: str, detail: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if detail:
        body["detail"] = detail
    return {"type": "error", "error": body}


class _Handler(BaseHTTPRequestHandler):
    server_version = "bitbucket-sandbox/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> BitbucketState:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    # --- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.state.log(self.command, urlsplit(self.path).path, status)

    def _basic(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def _principal(self) -> tuple[dict[str, Any] | None, str]:
        """Who the request acts as, or (None, why not)."""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = self.state.tokens.get(auth[7:].strip())
            if token is None:
                return None, "Token is invalid, expired, or not supported for this endpoint."
            if token.expires_at <= time.monotonic():
                return None, "Access token expired."
            return token.principal, ""
        basic = self._basic()
        if basic:
            email, api_token = basic
            if email and self.state.api_tokens.get(email) == api_token:
                return self.state.api_user(email), ""
            return None, "Invalid credentials"
        return None, ("This API is only accessible with the following authentication types: session, password, "
                      "apppassword, api_token, repository_access_token, workspace_access_token, project_access_token")

    # --- OAuth ----------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        if urlsplit(self.path).path != "/site/oauth2/access_token":
            self._send(405, _error("Method not allowed"))
            return
        basic = self._basic()
        if basic is None:
            self._send(400, {"error": "unauthorized_client",
                             "error_description": "Requests must be authenticated using OAuth client credentials"})
            return
        client_id, secret = basic
        if self.state.clients.get(client_id) != secret or not secret:
            self._send(400, {"error": "unauthorized_client", "error_description": "Invalid OAuth client credentials"})
            return
        if form.get("grant_type", [""])[0] != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type",
                             "error_description": "Unsupported grant type: " + form.get("grant_type", [""])[0]})
            return
        token = self.state.issue_token(client_id)
        self._send(200, {"access_token": token.value, "scope": "account", "token_type": "bearer",
                         "expires_in": self.state.expires_in, "state": "client_credentials"})

    # --- REST 2.0 -------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        if segments[:1] != ["2.0"]:
            self._send(404, _error("Resource not found", "There is no API hosted at this URL."))
            return
        principal, why = self._principal()
        if principal is None:
            self._send(401, _error(why))
            return
        wait = self.state.throttle()
        if wait is not None:
            headers = {"Retry-After": str(wait)} if self.state.send_retry_after else {}
            self._send(429, _error("Rate limit for this resource has been exceeded"), headers)
            return
        self.state.count_call()
        route = segments[1:]
        if route == ["user"]:
            self._send(200, principal)
        elif len(route) == 2 and route[0] == "users":
            user = self.state.find_user(route[1])
            if user is None:
                self._send(404, _error(f"{route[1]} is not a user"))
            else:
                user.pop("email", None)
                self._send(200, user)
        elif len(route) >= 2 and route[0] == "workspaces":
            self._workspace(route[1], route[2:], query)
        else:
            self._send(404, _error("Resource not found", "There is no API hosted at this URL."))

    def _workspace(self, slug: str, rest: list[str], query: dict[str, str]) -> None:
        with self.state.lock:
            ws = self.state.workspaces.get(slug) or next(
                (w for w in self.state.workspaces.values() if w["uuid"] == slug), None)
            rows = list(self.state.members.get(ws["slug"], [])) if ws else []
        if ws is None:
            self._send(404, _error(f"No workspace with identifier '{slug}'."))
            return
        with_email = "+values.user.email" in query.get("fields", "").split(",")
        if rest == []:
            self._send(200, ws)
        elif rest[0] in ("members", "permissions") and len(rest) == 1:
            keep_permission = rest[0] == "permissions"
            wanted = _permission_filter(query.get("q", "")) if keep_permission else None
            rows = [r for r in rows if wanted is None or r.get("permission", "member") == wanted]
            self._page([_shape(r, keep_permission, with_email) for r in rows], query)
        elif rest[0] == "members" and len(rest) == 2:
            match = next((r for r in rows if rest[1] in (r["user"].get("account_id"), r["user"].get("uuid"))), None)
            if match is None:
                self._send(404, _error(f"{rest[1]} is not a member of {slug}"))
            else:
                self._send(200, _shape(match, False, with_email))
        else:
            self._send(404, _error("Resource not found", "There is no API hosted at this URL."))

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> None:
        try:
            page = int(query.get("page", "1"))
            if page < 1:
                raise ValueError
        except ValueError:
            self._send(400, _error("Invalid page"))
            return
        try:
            pagelen = int(query.get("pagelen", "10"))
            if not 1 <= pagelen <= self.state.max_pagelen:
                raise ValueError
        except ValueError:
            self._send(400, _error("Invalid pagelen"))
            return
        repeat = self.state.repeat_page
        served = repeat if repeat is not None and page == repeat + 1 else page
        values = rows[(served - 1) * pagelen: served * pagelen]
        body: dict[str, Any] = {"pagelen": pagelen, "size": len(rows), "page": page, "values": values}
        if page * pagelen < len(rows) or (repeat is not None and page in (repeat, repeat + 1)):
            body["next"] = self._url({**query, "page": str(page + 1)})
        if page > 1:
            body["previous"] = self._url({**query, "page": str(page - 1)})
        self._send(200, body)

    def _url(self, query: dict[str, str]) -> str:
        host = self.headers.get("Host") or "%s:%d" % host_port(self.server)
        return f"http://{host}{urlsplit(self.path).path}?{urlencode(query)}"


def _permission_filter(q: str) -> str | None:
    """The value of a `permission="owner"` query, the only filter the sandbox understands."""
    q = q.strip()
    if q.startswith("permission"):
        return q.split("=", 1)[1].strip().strip('"') if "=" in q else None
    return None


def _shape(row: dict[str, Any], keep_permission: bool, with_email: bool) -> dict[str, Any]:
    out = json.loads(json.dumps(row))
    if keep_permission:
        out.setdefault("permission", "member")
    else:
        out.pop("permission", None)
    if not with_email:
        out["user"].pop("email", None)
    out.setdefault("links", {"self": {"href": "https://api.bitbucket.org/2.0/workspaces/"
                                              f"{row['workspace']['slug']}/members/{row['user'].get('account_id')}"}})
    return out


class SandboxHandle:
    """A running sandbox: its URLs, its state, and `stop()` (also a context manager)."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread
        host, port = host_port(server)
        self.url = f"http://{host}:{port}"
        self.base_url = self.url + "/2.0"
        self.token_url = self.url + "/site/oauth2/access_token"

    @property
    def state(self) -> BitbucketState:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(state: BitbucketState, port: int = 0, *, verbose: bool = False) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def start_in_thread(state: BitbucketState | None = None, *, port: int = 0, data: Path | None = None,
                    **state_options: Any) -> SandboxHandle:
    """Start a sandbox in a daemon thread (for tests and the demo); stop it with `handle.stop()`."""
    if state is None:
        state = BitbucketState(load_data(data) if data else [], **state_options)
    server = make_server(state, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="bitbucket-sandbox",
                              daemon=True)
    thread.start()
    return SandboxHandle(server, thread)


def load_data(path: Path) -> list[dict[str, Any]]:
    """A JSON list of `workspace_membership` objects, as Bitbucket returns them inside `values`."""
    rows = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("user"), dict) for r in rows):
        raise SystemExit(f"{path}: expected a JSON list of workspace_membership objects (each with a `user`)")
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--data", type=Path, help="JSON list of workspace_membership objects")
    parser.add_argument("--workspace", default="", help="workspace slug to serve even when it has no members")
    parser.add_argument("--client-id", default="idconsole-demo", help="OAuth consumer key (default idconsole-demo)")
    parser.add_argument("--secret-env", default="BITBUCKET_SANDBOX_SECRET",
                        help="environment variable holding the consumer secret the token endpoint accepts")
    parser.add_argument("--expires-in", type=int, default=7200, help="access token lifetime in seconds")
    parser.add_argument("--rate-limit", type=int, default=None, help="API calls allowed per --rate-window")
    parser.add_argument("--rate-window", type=float, default=3600.0, help="rolling window in seconds")
    parser.add_argument("--repeat-page", type=int, default=None, help="serve page N again as page N+1")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def serve(args: argparse.Namespace) -> int:
    secret = secret_from_env(args.secret_env, "Bitbucket")
    state = BitbucketState(load_data(args.data) if args.data else [], workspace=args.workspace,
                           clients={args.client_id: secret}, expires_in=args.expires_in,
                           rate_limit=args.rate_limit, rate_window=args.rate_window)
    state.repeat_page = args.repeat_page
    server = make_server(state, args.port, verbose=args.verbose)
    host, port = host_port(server)
    members = sum(len(rows) for rows in state.members.values())
    print(f"Bitbucket sandbox: base URL http://{host}:{port}/2.0  token URL http://{host}:{port}/site/oauth2/"
          f"access_token  workspaces {', '.join(state.workspaces) or '(none)'}  members {members}  "
          f"client id {args.client_id}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

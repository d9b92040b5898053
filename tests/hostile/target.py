"""A small hostile HTTP target on 127.0.0.1: it never answers, trickles, floods, echoes secrets, sends the wrong
types or HTML. Token requests (paths ending in `token`) get a valid token in every mode but `silent` and
`trickle`, so the misbehaviour reaches each connector's data requests.

Every connection is bounded: a handler stops after `HOLD` seconds or when the client leaves; `flood` sends at
most `flood_bytes`, from a generator (nothing large is held in memory).
"""
from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

HOLD = 60.0  # the longest any connection is kept open
MODES = ("silent", "trickle", "flood", "echo", "wrong_types", "html")
WRONG_TYPES = b'{"totalResults":"lots","Resources":5,"values":"lots","size":"lots","value":5}'
HTML = b"<!doctype html><html><body><h1>Sign in</h1><form action=/login></form></body></html>"


class _Handler(socketserver.BaseRequestHandler):
    server: HostileServer

    def _read_request(self) -> tuple[str, str, bytes]:
        self.request.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
        while len(body) < min(length, 65536):
            chunk = self.request.recv(4096)
            if not chunk:
                break
            body += chunk
        return method, path, head + b"\r\n\r\n" + body

    def _send(self, status: str, body: bytes, content_type: str = "application/json") -> None:
        self.request.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                             "Connection: close\r\n\r\n".encode() + body)

    def handle(self) -> None:
        try:
            method, path, raw = self._read_request()
        except (OSError, ValueError):
            return
        self.server.requests.append(raw)
        mode = self.server.mode
        try:
            if mode == "silent":
                self._hold()
            elif mode == "trickle":
                self._trickle()
            elif path.split("?")[0].endswith("token"):
                self._send("200 OK", json.dumps({"access_token": "tok-" + "x" * 20, "token_type": "bearer",
                                                 "expires_in": 3600}).encode())
            elif mode == "flood":
                self._flood()
            elif mode == "echo":  # a server error that repeats the request, credentials included
                self._send("500 Internal Server Error", json.dumps({"detail": raw.decode("latin-1")}).encode())
            elif mode == "wrong_types":
                self._send("200 OK", WRONG_TYPES)
            elif mode == "html":
                self._send("200 OK", HTML, "text/html")
        except OSError:
            return

    def _hold(self) -> None:
        """Accept, read, never answer: wait until the client leaves or HOLD passes."""
        self.request.settimeout(1)
        deadline = time.monotonic() + HOLD
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                if not self.request.recv(1):
                    return
            except socket.timeout:
                continue

    def _trickle(self) -> None:
        """A valid start, then one byte a second of a body that never ends (within HOLD)."""
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        deadline = time.monotonic() + HOLD
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            self.request.sendall(b" ")
            self.server.stopping.wait(1.0)

    def _flood(self) -> None:
        """A chunked body of `flood_bytes` (no Content-Length to refuse it early), streamed from a generator."""
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in self.server.flood_chunks():
            if self.server.stopping.is_set():
                return
            self.request.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.request.sendall(b"0\r\n\r\n")


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str, *, flood_bytes: int = 200 * 1024 * 1024) -> None:
        assert mode in MODES
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode, self.flood_bytes = mode, flood_bytes
        self.requests: list[bytes] = []
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def flood_chunks(self) -> Iterator[bytes]:
        piece = b"[" + b'"x",' * 16383 + b'"x"]'  # 64 KiB of valid-looking JSON, over and over
        sent = 0
        while sent < self.flood_bytes:
            yield piece
            sent += len(piece)

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


if __name__ == "__main__":  # python -m tests.hostile.target MODE: serve until killed (for manual tries)
    import sys

    with HostileServer(sys.argv[1]) as server:
        print(server.url, flush=True)
        server.stopping.wait(HOLD * 10)

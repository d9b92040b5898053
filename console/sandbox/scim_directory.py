"""A local stand-in for Atlassian's SCIM directory: scim2-server (PyPI) in a subprocess on 127.0.0.1, configured
by `scim_atlassian` to answer as Atlassian documents (PATCH 200, e-mail on a verified domain, uniqueness).

Each tenant is one directory: its base URL is `http://127.0.0.1:PORT/scim/directory/{directoryId}` (Atlassian's
is `https://api.atlassian.com/scim/directory/{directoryId}`); an unknown directory id answers 404 and a
wrong bearer token 401, as Atlassian does. Used by the tests, the bench and the demo.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

__all__ = ["ScimDirectoryServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScimDirectoryServer:
    """Start with `start()` (or as a context manager); `new_directory()` hands out an unused tenant."""

    def __init__(self, token: str, *, tenants: int = 50, log_dir: Path | None = None,
                 verified_domains: list[str] | None = None) -> None:
        self.token = token
        self.verified_domains = verified_domains  # None: every domain counts as verified
        self.directory_ids = [str(uuid.uuid4()) for _ in range(max(1, tenants))]
        self._unused = list(self.directory_ids)
        self._log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path: Path | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, directory_id: str) -> str:
        return f"{self.root}/scim/directory/{directory_id}"

    def start(self, timeout: float = 60.0) -> ScimDirectoryServer:
        """The server binds a port the system chooses (no port probed here and taken by another process before
        the server binds it) and writes it to a file; ready when it answers. A server that exits or does not
        answer within `timeout` raises, with the end of its log."""
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="scim2-server-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        name = f"scim2-server-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{name}.log"
        port_file = log_dir / f"{name}.port"
        command = [sys.executable, "-m", "console.sandbox.scim_atlassian", "--hostname", "127.0.0.1",
                   "--port", "0", "--port-file", str(port_file), "--bearer-token", self.token]
        for domain in self.verified_domains or []:
            command += ["--verified-domain", domain]
        for directory_id in self.directory_ids:
            command += ["--tenant", directory_id]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        problem = self._wait_ready(port_file, timeout)
        if problem is None:
            return self
        self.stop()
        raise RuntimeError(f"scim2-server {problem}; its log ({self.log_path}) ends:\n{self._log_tail()}")

    def _wait_ready(self, port_file: Path, timeout: float) -> str | None:
        """None once the server answers; else what went wrong."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return f"exited (code {code}) before it answered"
            if not self.port:
                try:
                    self.port = int(port_file.read_text(encoding="ascii"))
                except (FileNotFoundError, ValueError):
                    time.sleep(0.05)
                    continue
                port_file.unlink(missing_ok=True)
            try:
                if httpx.get(f"{self.base_url(self.directory_ids[0])}/ServiceProviderConfig", timeout=2.0).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        where = f"on port {self.port}" if self.port else "before it bound a port"
        return f"did not answer within {timeout:.0f} s ({where})"

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""
        except OSError as exc:
            return f"(unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def new_directory(self) -> str:
        """A directory id nobody has used yet in this server's life; when all are used, one is emptied."""
        if self._unused:
            return self._unused.pop(0)
        directory_id = self.directory_ids[0]
        self.directory_ids.append(self.directory_ids.pop(0))
        self.wipe(directory_id)
        self.set_verified_domains(directory_id, self.verified_domains)
        return directory_id

    def set_verified_domains(self, directory_id: str, domains: list[str] | None) -> None:
        """The directory's verified domains (None: every domain), a setting of this peer as of Atlassian's org."""
        headers = {"Authorization": f"Bearer {self.token}"}
        httpx.put(f"{self.root}/_peer/{directory_id}/verified-domains", json=domains, headers=headers,
                  timeout=10.0).raise_for_status()

    def wipe(self, directory_id: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url(directory_id), headers=headers, timeout=10.0) as client:
            for collection in ("Groups", "Users"):
                while True:
                    page = client.get(f"/{collection}", params={"count": 500}).json()
                    resources = page.get("Resources") or []
                    if not resources:
                        break
                    for resource in resources:
                        client.delete(f"/{collection}/{resource['id']}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> ScimDirectoryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The Graph request gate: in dry run and read-only mode only reads leave the process.

Graph reads are GETs plus a few POSTs that only read (token requests, `getByIds`, `getMemberGroups`…), so
the gate is an allow-list, checked on every request where it is sent (the httpx transport under the SDK).
"""
from __future__ import annotations

import httpx

from console.connectors.mode import Mode, guard

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = ("/oauth2/v2.0/token", "/oauth2/token", "/getByIds", "/getMemberGroups", "/getMemberObjects",
              "/checkMemberGroups", "/checkMemberObjects", "/getAvailableExtensionProperties")


def is_read(method: str, path: str) -> bool:
    """True for a request that changes nothing in the tenant."""
    method = method.upper()
    if method in READ_METHODS:
        return True
    return method == "POST" and path.rstrip("/").endswith(READ_POSTS)


class ModeTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport; a write raises DryRunBlocked or ReadOnly unless the mode is live."""

    def __init__(self, inner: httpx.AsyncBaseTransport, mode: Mode) -> None:
        self.inner, self.mode = inner, mode

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode is not Mode.LIVE and not is_read(request.method, request.url.path):
            guard(self.mode, f"{request.method} {request.url.path}", request.url.host)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

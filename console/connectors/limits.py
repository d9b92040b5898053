"""Bounded answers: no target or source can make the process hold more than `max_response_mb` of one answer.

`BoundedTransport` wraps the httpx transport of every HTTP connector: an answer whose Content-Length is over the
limit is refused before its body is read, and a body is counted as it streams and cut off the moment it passes
the limit (so a 1.5 GB answer costs at most the limit in memory). An answer whose Content-Length is within the
limit is passed on as it is: the HTTP/1.1 parser (h11) reads exactly that many bytes and refuses more, so counting
it again would only cost CPU on every request. Time is bounded by the retry layer's deadlines.
"""
from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from console.errors import Rejected

from .base import Setting

DEFAULT_MB = 50
SETTING = Setting("max_response_mb", "Largest answer accepted (MB)", default=DEFAULT_MB, kind="int",
                  help="an answer larger than this is refused and the operation fails (memory stays bounded)")


class ResponseTooLarge(Rejected):
    """The target sent more than the application's `max_response_mb` in one answer."""


def limit_bytes(settings: dict[str, Any]) -> int:
    """The byte limit an application's settings ask for (a positive number of MB, default 50)."""
    value = settings.get(SETTING.name)
    try:
        megabytes = float(DEFAULT_MB) if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        megabytes = float(DEFAULT_MB)
    return int(max(megabytes, 0.001) * 1024 * 1024)


_CONTEXTS: dict[tuple[str, str], ssl.SSLContext] = {}


def verifying_context() -> ssl.SSLContext:
    """httpx's default TLS context (verifying, with certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR as httpx honours
    them), built once per process for each value of those variables: loading the CA bundle costs ~50 ms of CPU,
    which every connector paid again (a sync builds one for its plan's reads and one for its writes)."""
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    context = _CONTEXTS.get(key)
    if context is None:
        context = _CONTEXTS[key] = httpx.create_ssl_context()
    return context


def _too_large(request: httpx.Request, limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(f"{request.url.host} sent more than {limit / 1048576:g} MB in answer to "
                            f"{request.method} {request.url.path}",
                            hint="check the URL; if the answer is legitimately this large, raise max_response_mb")


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request, limit: int) -> None:
        self.inner, self.request, self.limit = inner, request, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self.inner:
            received += len(chunk)
            if received > self.limit:
                await self.aclose()
                raise _too_large(self.request, self.limit)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class BoundedTransport(httpx.AsyncBaseTransport):
    """The wrapped transport, with every answer's body bounded to `limit` bytes."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None, limit: int) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport(verify=verifying_context())
        self.limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and "transfer-encoding" not in response.headers:
            if int(declared) > self.limit:
                await response.aclose()
                raise _too_large(request, self.limit)
            return response  # framed by its length: h11 never delivers more than the declared bytes
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_CountedStream(stream, request, self.limit), request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def bounded(transport: httpx.AsyncBaseTransport | None, settings: dict[str, Any]) -> BoundedTransport:
    return BoundedTransport(transport, limit_bytes(settings))

"""The transport that bounds every answer's body to the application's `max_response_mb` (see
`console.connectors.limits`, which builds it with `bounded()`): in its own module, so that importing the limits
(every connector's settings) does not import httpx."""
from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .limits import ResponseTooLarge, verifying_context


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

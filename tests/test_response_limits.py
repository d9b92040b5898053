"""The response size limit (connectors/limits.py) against a local raw socket server: an answer framed by a
Content-Length within the limit is passed on without being counted again, and still never yields more than it
declared; an answer without a length is counted and cut off at the limit."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from console.connectors.bounded import BoundedTransport
from console.connectors.limits import ResponseTooLarge

LIMIT = 64 * 1024


async def serve(head: bytes, body_bytes: int) -> tuple[asyncio.Server, str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head)
        sent = 0
        while sent < body_bytes:  # the server sends far more than it declared, then hangs up
            chunk = b"x" * min(16384, body_bytes - sent)
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/"


async def fetch(head: bytes, body_bytes: int) -> httpx.Response:
    server, url = await serve(head, body_bytes)
    async with server, httpx.AsyncClient(transport=BoundedTransport(None, LIMIT)) as client:
        return await client.get(url)


async def test_an_answer_with_a_length_within_the_limit_yields_exactly_that_length_whatever_follows() -> None:
    response = await fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n", 4 * LIMIT)
    assert response.content == b"x" * 10


async def test_an_answer_declaring_more_than_the_limit_is_refused_before_its_body_is_read() -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {LIMIT + 1}\r\nConnection: close\r\n\r\n".encode()
    with pytest.raises(ResponseTooLarge, match="more than"):
        await fetch(head, LIMIT + 1)


async def test_an_answer_without_a_length_is_cut_off_at_the_limit() -> None:
    with pytest.raises(ResponseTooLarge, match="more than"):
        await fetch(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 4 * LIMIT)


def test_connectors_share_one_verifying_tls_context_per_ca_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle costs ~50 ms of CPU: every connector's transport in a process shares one context, which
    still verifies the certificate and the host name; SSL_CERT_FILE (honoured as httpx does) gets a context of its
    own."""
    import ssl

    import certifi

    from console.connectors.atlassian.connector import AtlassianConnector
    from console.models import Application

    def context_of(base_url: str) -> ssl.SSLContext:
        app = Application(name="a", kind="atlassian", settings={"base_url": base_url}, secrets={"token": "env:T"})
        transport = AtlassianConnector(app).http.client._transport
        assert isinstance(transport, BoundedTransport)
        return transport.inner._pool._ssl_context  # type: ignore[attr-defined]

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first, second = context_of("https://api.atlassian.com/scim/directory/d1"), context_of("http://127.0.0.1:9/scim/d2")
    assert first is second
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert first.cert_store_stats()["x509_ca"] > 0  # certifi's CAs are loaded
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    own = context_of("https://api.atlassian.com/scim/directory/d3")
    assert own is not first and own.verify_mode == ssl.CERT_REQUIRED and own.check_hostname

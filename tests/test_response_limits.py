"""The response size limit (connectors/limits.py) against a local raw socket server: an answer framed by a
Content-Length within the limit is passed on without being counted again, and still never yields more than it
declared; an answer without a length is counted and cut off at the limit."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from console.connectors.limits import BoundedTransport, ResponseTooLarge

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

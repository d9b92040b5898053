"""Bench: provision N users into a local scim2-server through idconsole's Atlassian connector and through raw
concurrent httpx POSTs of the same payloads, at the same concurrency, each half on a fresh directory.

    python bench/scim_sync.py [--users 2000] [--concurrency 8] [--chunk 100]

Prints users/s for both and the ratio (target: idconsole >= 0.9x raw), and the client CPU per user of each,
which a busy machine disturbs less than wall time. Binds 127.0.0.1 only; stops by itself (--timeout).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.connectors import make_target
from console.connectors.atlassian import AtlassianConnector
from console.connectors.atlassian.payloads import account_attributes, user_payload
from console.models import Application, User
from console.sandbox.scim_directory import ScimDirectoryServer

TOKEN_ENV = "IDCONSOLE_BENCH_SCIM_TOKEN"
NAMES = [("Zoë", "Ångström"), ("Seán", "O'Brien"), ("小龙", "李"), ("Ñúñez", "Ibáñez"), ("Ada", "Lovelace")]


def people(count: int, prefix: str) -> list[dict[str, Any]]:
    """Flat attributes of `count` distinct people (what the sync engine hands to create_user)."""
    result = []
    for i in range(count):
        given, family = NAMES[i % len(NAMES)]
        user = User(employeeId=f"{prefix}{i:05d}", userName=f"{prefix}{i:05d}", givenName=given, familyName=family,
                    emails=[f"{prefix.lower()}{i:05d}@corp.example"], title="Engineer", department="R&D")
        result.append(account_attributes(user, "sso"))
    return result


async def run_workers(items: list[Any], concurrency: int, work: Callable[[Any], Awaitable[None]]) -> None:
    """The same bounded driver for both halves: `concurrency` workers pulling from one queue."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def via_idconsole(connector: AtlassianConnector, concurrency: int, batch: list[dict[str, Any]]) -> float:
    started = time.perf_counter()

    async def create(attrs: dict[str, Any]) -> None:
        await connector.create_user(attrs)

    await run_workers(batch, concurrency, create)
    return time.perf_counter() - started


async def via_raw_httpx(client: httpx.AsyncClient, concurrency: int, batch: list[dict[str, Any]]) -> float:
    payloads = [user_payload(attrs) for attrs in batch]  # the same bodies, built before the clock starts
    started = time.perf_counter()

    async def post(payload: dict[str, Any]) -> None:
        response = await client.post("/Users", json=payload, headers={"Content-Type": "application/scim+json"})
        response.raise_for_status()
        response.json()

    await run_workers(payloads, concurrency, post)
    return time.perf_counter() - started


def raw_client(base_url: str, token: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30.0)


def count_users(base_url: str, token: str) -> int:
    response = httpx.get(f"{base_url}/Users", params={"count": 1}, headers={"Authorization": f"Bearer {token}"})
    return int(response.json()["totalResults"])


async def bench(users: int, concurrency: int, chunk: int) -> int:
    """Both halves run in alternating chunks so that the load of a shared machine hits them alike."""
    token = secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    with ScimDirectoryServer(token, tenants=3) as server:
        async with raw_client(server.base_url(server.new_directory()), token, concurrency) as warmup:
            await via_raw_httpx(warmup, concurrency, people(100, "W"))  # a fresh process's first requests are slow
        raw_url, idconsole_url = server.base_url(server.new_directory()), server.base_url(server.new_directory())
        app = Application(name="bench", kind="atlassian", settings={"base_url": idconsole_url, "timeout": 30},
                          secrets={"token": f"env:{TOKEN_ENV}"}, max_concurrency=concurrency)
        connector = make_target(app)
        raw_batch, idconsole_batch = people(users, "R"), people(users, "I")
        seconds = {"raw": 0.0, "idconsole": 0.0}
        cpu = {"raw": 0.0, "idconsole": 0.0}
        try:
            async with raw_client(raw_url, token, concurrency) as client:
                for n, start in enumerate(range(0, users, chunk)):
                    order = ("raw", "idconsole") if n % 2 == 0 else ("idconsole", "raw")
                    for side in order:
                        cpu_start = time.process_time()
                        if side == "raw":
                            seconds[side] += await via_raw_httpx(client, concurrency, raw_batch[start:start + chunk])
                        else:
                            seconds[side] += await via_idconsole(connector, concurrency,
                                                                 idconsole_batch[start:start + chunk])
                        cpu[side] += time.process_time() - cpu_start
        finally:
            await connector.aclose()
        for side, url in (("raw", raw_url), ("idconsole", idconsole_url)):
            stored = count_users(url, token)
            if stored != users:
                print(f"error: {side} left {stored} users in its directory, expected {users}", file=sys.stderr)
                return 1
    for side, label in (("idconsole", "idconsole connector"), ("raw", "raw httpx POSTs")):
        print(f"{label:<20} {users} users in {seconds[side]:6.2f} s = {users / seconds[side]:7.1f} users/s"
              f"  (client CPU {1000 * cpu[side] / users:.2f} ms/user)")
    ratio = seconds["raw"] / seconds["idconsole"]
    print(f"ratio idconsole/raw: {ratio:5.2f}x (target >= 0.90x; concurrency {concurrency}, chunks of {chunk})")
    print(f"client CPU ratio raw/idconsole: {cpu['raw'] / cpu['idconsole']:5.2f}x (less sensitive to a busy machine)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=Application(name="x", kind="atlassian").max_concurrency,
                        help="defaults to Application.max_concurrency's default")
    parser.add_argument("--chunk", type=int, default=100, help="users per alternating chunk of each half")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args()
    try:
        return asyncio.run(asyncio.wait_for(bench(args.users, args.concurrency, args.chunk), args.timeout))
    except TimeoutError:
        print(f"error: the bench did not finish within {args.timeout:.0f} s", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

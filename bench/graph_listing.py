"""List N users from the Graph sandbox two ways through msgraph-sdk: the SDK's models (UserCollectionResponse)
and the connector's plain-JSON response handler. Prints seconds and the ratio measured in one run.

Why: msgraph-sdk deserializes ~5–15 ms per user (msgraph-sdk-python#584), on the event loop.
Run: python bench/graph_listing.py [N]
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.connectors import make_target  # noqa: E402
from console.connectors.graph.users import users_query  # noqa: E402
from console.models import Application  # noqa: E402
from console.sandbox.graph import (  # noqa: E402
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TENANT_ID,
    start_in_thread,
)


async def main(count: int) -> None:
    users = [{"userPrincipalName": f"user{i:05}@contoso.com", "displayName": f"User {i}", "employeeId": str(i)}
             for i in range(count)]
    running = start_in_thread(data=users)
    os.environ["IDCONSOLE_BENCH_GRAPH_SECRET"] = SANDBOX_CLIENT_SECRET
    app = Application(name="bench", kind="graph", secrets={"client_secret": "env:IDCONSOLE_BENCH_GRAPH_SECRET"},
                      settings={"tenant_id": SANDBOX_TENANT_ID, "client_id": SANDBOX_CLIENT_ID,
                                "base_url": running.url + "/v1.0", "authority": running.url})
    conn = make_target(app)
    try:
        await conn.test()  # token + imports, outside the timings
        started = time.perf_counter()
        fast = [a async for a in conn.list_users()]
        plain = time.perf_counter() - started

        started = time.perf_counter()
        config = users_query()
        page = await conn._call("list users", lambda c: c.users.get(config))
        models = list(page.value or [])
        while page.odata_next_link:
            link = page.odata_next_link
            page = await conn._call("list users", lambda c: c.users.with_url(link).get(config))
            models += page.value or []
        sdk = time.perf_counter() - started
    finally:
        await conn.aclose()
        running.stop()
    assert len(fast) == len(models) == count
    print(f"{count} users: SDK models {sdk:.2f} s ({1000 * sdk / count:.1f} ms/user), "
          f"plain JSON {plain:.2f} s ({1000 * plain / count:.2f} ms/user), ratio {sdk / plain:.0f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))

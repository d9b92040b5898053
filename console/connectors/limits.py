"""Bounded answers: no target or source can make the process hold more than `max_response_mb` of one answer.

`BoundedTransport` wraps the httpx transport of every HTTP connector: an answer whose Content-Length is over the
limit is refused before its body is read, and a body is counted as it streams and cut off the moment it passes
the limit (so a 1.5 GB answer costs at most the limit in memory). An answer whose Content-Length is within the
limit is passed on as it is: the HTTP/1.1 parser (h11) reads exactly that many bytes and refuses more, so counting
it again would only cost CPU on every request. Time is bounded by the retry layer's deadlines.

This module (the setting, the limit, the shared TLS context) imports no httpx: a connector that never sends a request
(a plan without `--reconcile`) never loads it. The transport itself is in `console.connectors.bounded`, imported
by `bounded()` when a connector builds its client (at its first request).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from console.errors import Rejected

from .base import Setting

if TYPE_CHECKING:
    import ssl

    import httpx

    from .bounded import BoundedTransport

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
        import httpx  # noqa: PLC0415 - only a connector that sends builds a context

        context = _CONTEXTS[key] = httpx.create_ssl_context()
    return context


def bounded(transport: httpx.AsyncBaseTransport | None, settings: dict[str, Any]) -> BoundedTransport:
    from .bounded import BoundedTransport  # noqa: PLC0415 - httpx, loaded by the first client built

    return BoundedTransport(transport, limit_bytes(settings))

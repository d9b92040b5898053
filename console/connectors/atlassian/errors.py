"""How Atlassian's SCIM answers and connection failures become `console.errors`, with Atlassian's own words.

A 401 says where to make a new API key; a 404 on a collection means the directory id is wrong; a refused
connection, a TLS failure and an unknown host each say so; every text from the target passes `console.redact`.
"""
from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

import orjson

from console.connectors.shape import shape_errors
from console.errors import (
    AlreadyExists,
    AuthFailed,
    ConfigError,
    NotFound,
    Rejected,
    TransientError,
    Unreachable,
)
from console.redact import redact
from console.text import retry_after_seconds

from .payloads import scim_error

if TYPE_CHECKING:
    import httpx

KEY_HINT = ("create a new API key: admin.atlassian.com > Security > Identity providers > your directory > "
            "(•••) Regenerate API key, then store it where the application's token reference points")
OAUTH_HINT = "check the OAuth client id and secret (admin.atlassian.com > Settings > API keys / service accounts)"
DIRECTORY_HINT = ("check the directory base URL: it is https://api.atlassian.com/scim/directory/{directoryId}, "
                  "shown in admin.atlassian.com > Security > Identity providers > your directory")


RETRYABLE = frozenset({429, 500, 502, 503, 504})


class OutcomeUnknown(TransientError):
    """A write was sent but its answer was lost (reset, timeout, 5xx): look before sending it again."""


def body_text(response: httpx.Response) -> str:
    try:
        text = scim_error(response.json())
    except ValueError:
        text = ""
    return text or response.text.strip() or response.reason_phrase  # bounded by redact, after redaction


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_error(exc: httpx.HTTPError, host: str, secrets: list[str]) -> TransientError:
    """A failure to reach the host (refused, DNS, TLS, connect timeout) as Unreachable; anything else as unknown."""
    import httpx  # noqa: PLC0415 - loaded already by whoever sent the request (not by a connector that never sends)

    chain = _chain(exc)
    reason = redact(str(chain[-1]) or type(chain[-1]).__name__, secrets)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in reason or "CERTIFICATE" in reason.upper():
        return Unreachable(f"TLS handshake with {host} failed", detail=reason,
                           hint="check that the URL is right (https for a TLS server), the certificate, and any proxy")
    if isinstance(exc, httpx.ConnectTimeout):
        return Unreachable(f"cannot reach {host}: connection timed out", detail=reason,
                           hint="check the network, a firewall or proxy, and the base URL")
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in reason.lower():
            what = "connection refused"
        elif any(isinstance(e, socket.gaierror) for e in chain):
            what = "host name not resolved"
        else:
            what = "connection failed"
        return Unreachable(f"cannot reach {host}: {what}", detail=reason,
                           hint="check the base URL and that the host is up and reachable from here")
    return OutcomeUnknown(f"connection to {host} lost ({type(exc).__name__})", detail=reason,
                          hint="the request may or may not have been applied; it is retried after a check")


_NOT_JSON = object()


def _decoded(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def decode(response: httpx.Response, method: str, path: str, secrets: list[str]) -> Any:
    if not response.content:
        return None
    try:  # orjson for the UTF-8 every SCIM answer is; httpx's decoding (its charset) for anything else
        body = orjson.loads(response.content)
    except ValueError:
        body = _decoded(response)
    if body is _NOT_JSON:
        kind = response.headers.get("content-type", "").split(";")[0] or "something"
        raise ConfigError(f"{response.url.host} answered {method} {path} with {kind}, not SCIM JSON",
                          detail=redact(response.text.strip(), secrets, limit=120), hint=DIRECTORY_HINT) from None
    if not isinstance(body, dict):  # every SCIM answer is an object
        raise ConfigError(f"{response.url.host} answered {method} {path} with {shape_errors(body, {})[4:]}",
                          hint=DIRECTORY_HINT)
    return body


def status_error(response: httpx.Response, method: str, path: str, secrets: list[str], oauth: bool,
                 directory: str = "") -> Exception:
    """The console.errors class for a non-2xx answer, carrying Atlassian's own message."""
    status = response.status_code
    detail = redact(body_text(response), secrets)
    what = f"{method} {path}"
    if status == 401:
        if oauth:
            return AuthFailed("OAuth access token rejected (401)", hint=OAUTH_HINT, detail=detail, status=status)
        return AuthFailed("API key rejected (401)", hint=KEY_HINT, detail=detail, status=status)
    if status == 403:
        return AuthFailed(f"not allowed to call the user provisioning API (403) for {what}", detail=detail,
                          status=status,
                          hint="use the directory's own API key (not an org admin key or a site API token)")
    if status == 404:
        if path.rstrip("/").count("/") <= 1:  # a collection or discovery endpoint: the directory is missing
            return ConfigError(f"directory {directory} not found (404)".replace("  ", " "), hint=DIRECTORY_HINT,
                               detail=detail)
        return NotFound(f"{path} not found (404)", detail=detail, status=status,
                        hint="it was deleted in the directory; the next sync re-creates or unlinks it")
    if status == 409:
        return AlreadyExists(f"already exists in the directory ({what})", detail=detail, status=status)
    if status in RETRYABLE:
        return TransientError(f"Atlassian answered {status} to {what}", retry_after=retry_after_seconds(response),
                              detail=detail, status=status, hint="try again later")
    return Rejected(f"Atlassian refused {what} ({status})", detail=detail, status=status,
                    hint="fix the value named in the detail, then sync again")

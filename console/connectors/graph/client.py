"""Building the msgraph-sdk client (default middleware, explicit base URL) and translating its errors.

`translate()` is the one mapping from msgraph-sdk / kiota / azure-identity / httpx exceptions to
`console.errors`; the connector's `_call` is its only caller.
"""
from __future__ import annotations

import logging
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.response_handler import ResponseHandler
from kiota_authentication_azure._exceptions import HTTPError as KiotaAuthHTTPError
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import ResponseHandlerOption, RetryHandlerOption
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as graph_options
from msgraph_core import GraphClientFactory

from console.connectors import limits
from console.connectors.bounded import BoundedTransport
from console.connectors.mode import Mode
from console.connectors.retry import RetryPolicy
from console.errors import (
    AlreadyExists,
    AuthFailed,
    ConfigError,
    IdConsoleError,
    NotFound,
    Rejected,
    TransientError,
    Unreachable,
)
from console.redact import redact

from .auth import graph_scope
from .guard import ModeTransport

log = logging.getLogger("console.connectors.graph")
Q = TypeVar("Q")  # a request configuration's query parameters

PERMISSIONS = "User.ReadWrite.All, Group.ReadWrite.All, LicenseAssignment.ReadWrite.All, User.RevokeSessions.All"
MSG_UPN_EXISTS = "another object with the same value for property userprincipalname already exists"
MSG_MEMBER_EXISTS = "added object references already exist"
MSG_MEMBER_MISSING = "removed object references do not exist"
MSG_REFERENCE_MISSING = "does not exist or one of its queried reference-property objects are not present"


def build_client(base_url: str, credential: Any, policy: RetryPolicy, mode: Mode,
                 max_bytes: int = limits.limit_bytes({})) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """A GraphServiceClient on our own httpx client (the mode's gate under it) with Graph's default middleware;
    its RetryHandler, the one retry layer for Graph, makes at most `policy.attempts` tries of a request."""
    retry = RetryHandlerOption(delay=policy.base, max_retries=max(0, policy.attempts - 1))
    options = {**graph_options, RetryHandlerOption.get_key(): retry}
    transport = ModeTransport(BoundedTransport(httpx.AsyncHTTPTransport(verify=limits.verifying_context()), max_bytes), mode)
    timeout = httpx.Timeout(policy.read, connect=policy.connect)
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport), options=options)
    host = urlsplit(base_url).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[graph_scope(base_url)], allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base_url.rstrip("/")  # the SDK templates are "{+baseurl}/users": no trailing slash
    return GraphServiceClient(request_adapter=adapter), http


class JsonResponseHandler(ResponseHandler):
    """Answer a request with the plain JSON document instead of msgraph models. msgraph-sdk's model
    deserialization costs ~5–15 ms per directory object (msgraph-sdk-python#584), far too slow for listing
    thousands of users on the event loop; errors still raise ODataError like the SDK does."""

    # kiota types `response` as a method-level TypeVar (any type at all); kiota_http passes an httpx.Response
    async def handle_response_async(self, response: httpx.Response, error_map: Any) -> Any:  # type: ignore[override]
        if response.status_code >= 400:
            error = ODataError()
            if response.content:
                try:
                    node = JsonParseNodeFactory().get_root_parse_node("application/json", response.content)
                    error = node.get_object_value(ODataError)
                except Exception:  # noqa: BLE001 - a non-JSON error body still becomes an ODataError
                    error = ODataError(message=response.text[:200])
            error.response_status_code = response.status_code
            error.response_headers = response.headers  # type: ignore[assignment]  # kiota wants its HeadersCollection
            raise error
        try:
            return orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "").split(";")[0] or "something"
            raise ConfigError(f"Microsoft Graph answered {response.request.method} {response.request.url.path} "
                              f"with {kind}, not JSON", detail=redact(response.text, limit=120),
                              hint="check base_url: it is https://graph.microsoft.com/v1.0") from None


def plain_json(config: RequestConfiguration[Q]) -> RequestConfiguration[Q]:
    """Make a request configuration answer with plain JSON (see JsonResponseHandler)."""
    config.options = [*(config.options or []), ResponseHandlerOption(JsonResponseHandler())]
    return config


def graph_error(exc: APIError) -> tuple[int, str, str, str]:
    """(status, Graph error code, message, request-id) of an ODataError or a bare kiota APIError."""
    status = int(exc.response_status_code or 0)
    main = getattr(exc, "error", None)
    code = str(getattr(main, "code", "") or "")
    message = str(getattr(main, "message", "") or exc.message or "")
    inner = getattr(main, "inner_error", None)
    headers = exc.response_headers or {}
    request_id = str(getattr(inner, "request_id", "") or headers.get("request-id", "") or "")
    return status, code, message, request_id


def retry_after(exc: APIError) -> float | None:
    value = (exc.response_headers or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: BaseException, op: str, *, client_id: str, secrets: list[str]) -> IdConsoleError | None:
    """The console error for an exception raised while doing `op` (a short phrase); None for a programming error."""
    if isinstance(exc, IdConsoleError):
        return exc
    if isinstance(exc, ClientAuthenticationError):
        detail = redact(str(exc.message or exc).splitlines()[0], secrets)
        return AuthFailed(f"Entra ID refused to sign in application {client_id}", detail=detail, status=401,
                          hint="check the tenant id, the client id and the client secret VALUE (not its ID) in Entra "
                               "admin center > App registrations > Certificates & secrets; secrets expire")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return Unreachable("the Entra ID token endpoint cannot be reached", detail=redact(str(exc), secrets),
                           hint="check the network and the authority setting")
    if isinstance(exc, APIError):
        status, code, message, request_id = graph_error(exc)
        detail = redact(f"{code}: {message}" if code else message, secrets)
        if request_id:
            detail += f" (request-id {request_id})"
        log.info("graph %s failed: %s %s", op, status, detail)
        if status == 401:
            return AuthFailed(f"Microsoft Graph rejected the access token while trying to {op}", detail=detail,
                              status=status, hint="check the tenant id and that the app registration still exists")
        if status == 403:
            return AuthFailed(f"Microsoft Graph refused to {op}: insufficient privileges", detail=detail, status=status,
                              hint=f"grant the application permissions {PERMISSIONS} and grant admin consent in "
                                   "Entra admin center > App registrations > API permissions")
        if status == 404 or (status == 400 and MSG_REFERENCE_MISSING in message.lower()):
            return NotFound(f"not found in Microsoft Graph while trying to {op}", detail=detail, status=status)
        if status in (429, 503, 504) or status >= 500:
            return TransientError(f"Microsoft Graph is busy; could not {op}", retry_after=retry_after(exc),
                                  detail=detail, status=status, hint="retried already; try again later")
        if status == 400 and MSG_UPN_EXISTS in message.lower():
            return AlreadyExists(f"could not {op}: the userPrincipalName is taken", detail=detail, status=status)
        return Rejected(f"Microsoft Graph refused to {op}", detail=detail, status=status,
                        hint="fix the value Graph names in the detail, then run again")
    if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol):
        return Unreachable("Microsoft Graph cannot be reached", detail=type(exc).__name__,
                           hint="check the base URL and the network")
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"Microsoft Graph timed out while trying to {op}", detail=type(exc).__name__,
                              hint="the change may or may not have been applied; the next run checks")
    if isinstance(exc, httpx.HTTPError):
        return TransientError(f"the connection to Microsoft Graph broke while trying to {op}",
                              detail=type(exc).__name__, hint="the change may or may not have been applied")
    if isinstance(exc, KiotaAuthHTTPError):  # kiota-authentication-azure refuses plain http to non-local hosts
        return ConfigError("Microsoft Graph base URL must use https", detail=str(exc),
                           hint="only a local sandbox (127.0.0.1/localhost) may use http")
    return None


def is_member_exists(exc: IdConsoleError) -> bool:
    return isinstance(exc, Rejected) and MSG_MEMBER_EXISTS in exc.detail.lower()


def is_member_missing(exc: IdConsoleError) -> bool:
    return isinstance(exc, Rejected) and MSG_MEMBER_MISSING in exc.detail.lower()

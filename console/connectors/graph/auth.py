"""Credentials for Microsoft Graph: azure-identity for real Entra ID authorities, and a small client-credentials
credential for a local sandbox (azure-identity insists on https authorities, a sandbox speaks http on 127.0.0.1).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from console.errors import ConfigError

if TYPE_CHECKING:  # httpx and azure-core are imported when a credential is built (at the first request)
    import httpx
    from azure.core.credentials import AccessToken

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def graph_scope(base_url: str) -> str:
    """The `.default` scope of the Graph cloud behind `base_url` (the global one for a local sandbox)."""
    host = urlsplit(base_url).hostname or "graph.microsoft.com"
    return "https://graph.microsoft.com/.default" if host in LOCAL_HOSTS else f"https://{host}/.default"


def token_endpoint(authority: str, tenant_id: str) -> str:
    """`authority` may be a host, a base URL, or the full token URL; the tenant path is added when missing."""
    authority = (authority or DEFAULT_AUTHORITY).strip().rstrip("/")
    if "://" not in authority:
        authority = f"https://{authority}"
    if authority.endswith("/token"):
        return authority
    return f"{authority}/{tenant_id}/oauth2/v2.0/token"


class ClientCredentialsToken:
    """An async token credential (the `get_token` protocol of azure-core) for the OAuth client-credentials grant
    against a local sandbox. The secret is read through `secret()` on each token request and never kept."""

    def __init__(self, url: str, client_id: str, secret: Callable[[], str], *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if urlsplit(url).scheme != "https" and not is_local(url):
            raise ConfigError(f"token endpoint {url} must use https", hint="only a local sandbox may use http")
        import httpx  # noqa: PLC0415 - built at the first request

        self.url = url
        self.client_id = client_id
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._cached: dict[tuple[str, ...], AccessToken] = {}

    async def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                        enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        import httpx  # noqa: PLC0415 - loaded already by __init__
        from azure.core.credentials import AccessToken  # noqa: PLC0415
        from azure.core.exceptions import (  # noqa: PLC0415
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )

        cached = self._cached.get(scopes)
        if cached and cached.expires_on - 300 > time.time():
            return cached
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret(),
                "scope": " ".join(scopes)}
        try:
            response = await self._http.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise ServiceRequestError(f"token endpoint {self.url} unreachable: {type(exc).__name__}") from None
        finally:
            form.clear()
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code >= 500:
            raise ServiceResponseError(f"token endpoint answered {response.status_code}")
        if response.status_code != 200 or "access_token" not in payload:
            description = str(payload.get("error_description") or response.reason_phrase).splitlines()[0]
            raise ClientAuthenticationError(message=f"{payload.get('error', response.status_code)}: {description}")
        token = AccessToken(payload["access_token"], int(time.time()) + int(payload.get("expires_in", 3599)))
        self._cached[scopes] = token
        return token

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ClientCredentialsToken:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def make_credential(authority: str, tenant_id: str, client_id: str, secret: Callable[[], str],
                    timeout: float = 30.0, max_bytes: int | None = None) -> Any:
    """A local http authority gets `ClientCredentialsToken`; anything else azure-identity's ClientSecretCredential."""
    url = token_endpoint(authority, tenant_id)
    if is_local(url):
        from console.connectors.bounded import BoundedTransport  # noqa: PLC0415 - httpx, at the first request

        transport = BoundedTransport(None, max_bytes) if max_bytes else None
        return ClientCredentialsToken(url, client_id, secret, timeout=timeout, transport=transport)
    if urlsplit(url).scheme != "https":
        raise ConfigError(f"authority {authority} must use https", hint="only a local sandbox may use http")
    from azure.identity.aio import ClientSecretCredential

    host = urlsplit(authority if "://" in (authority or "") else f"https://{authority or DEFAULT_AUTHORITY}").hostname
    return ClientSecretCredential(tenant_id, client_id, secret(), authority=host or "login.microsoftonline.com")

"""Error shapes of the Graph sandbox: Graph's `{"error": {code, message, innerError}}` and Entra's token errors."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

# Messages as Microsoft Graph returns them (matched verbatim by client code in the wild).
MSG_NOT_FOUND = "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
MSG_UPN_EXISTS = "Another object with the same value for property userPrincipalName already exists."
MSG_PROXY_EXISTS = "Another object with the same value for property proxyAddresses already exists."
MSG_MEMBER_EXISTS = ("One or more added object references already exist for the following modified properties: "
                     "'members'.")
MSG_MEMBER_MISSING = ("One or more removed object references do not exist for the following modified properties: "
                      "'members'.")
MSG_USAGE_LOCATION = "License assignment cannot be done for user with invalid usage location."
MSG_PASSWORD = ("The specified password does not comply with password complexity requirements. Please provide a "
                "different password.")
MSG_INVALID_VALUES = "One or more properties contains invalid values."
MSG_UPN_DOMAIN = ("The domain portion of the userPrincipalName property is invalid. You must use one of the verified "
                  "domain names in your organization.")
MSG_MAIL_ENABLED = ("The service does not currently support writes of mail-enabled groups. Please ensure that the "
                    "mail-enablement property is unset or is set to false.")


class GraphFault(Exception):
    """A Graph error response: HTTP status, Graph error code, message, extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid_value(prop: str, resource: str = "User") -> GraphFault:
    return GraphFault(400, "Request_BadRequest",
                      f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def not_found(object_id: str) -> GraphFault:
    return GraphFault(404, "Request_ResourceNotFound", MSG_NOT_FOUND.format(id=object_id))


def error_body(fault: GraphFault, request_id: str, client_request_id: str) -> dict[str, Any]:
    return {"error": {
        "code": fault.code,
        "message": fault.message,
        "innerError": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id,
        },
    }}


def token_error(status: int, error: str, code: int, description: str) -> tuple[int, dict[str, Any]]:
    """An Entra ID token endpoint error (AADSTS…) with the fields MSAL and azure-identity read."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                             f"\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }

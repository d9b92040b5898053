"""Local stand-ins for the targets (demo and tests): scim2-server, Graph, Bitbucket, Samba.

A sandbox's credentials are never fixed strings: in-process defaults are random per process, and the
command line takes the secret the sandbox must accept from an environment variable the operator sets.
"""
from __future__ import annotations

import os
import socketserver
from typing import cast

from console.errors import BadInput


def host_port(server: socketserver.BaseServer) -> tuple[str, int]:
    """The host and port a sandbox's TCP server listens on."""
    # socketserver types the address for every family (AF_UNIX: str or bytes); the sandboxes are AF_INET
    address = cast("tuple[str, int]", server.server_address)
    return address[0], address[1]


def secret_from_env(variable: str, what: str) -> str:
    """The secret a sandbox started from the command line accepts; a clear error when it is not set."""
    value = os.environ.get(variable, "")
    if not value:
        raise BadInput(f"{variable} is not set: the {what} sandbox needs the secret it should accept",
                       hint=f"export {variable}=<any value>, and give the application the same variable "
                            f"(--secret-env {variable})")
    return value

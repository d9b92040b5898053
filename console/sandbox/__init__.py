"""Local stand-ins for the targets (demo and tests): scim2-server, Graph, Bitbucket, Samba.

A sandbox's credentials are never fixed strings: in-process defaults are random per process, and the
command line takes the secret the sandbox must accept from an environment variable the operator sets.
"""
from __future__ import annotations

import os

from console.errors import BadInput


def secret_from_env(variable: str, what: str) -> str:
    """The secret a sandbox started from the command line accepts; a clear error when it is not set."""
    value = os.environ.get(variable, "")
    if not value:
        raise BadInput(f"{variable} is not set: the {what} sandbox needs the secret it should accept",
                       hint=f"export {variable}=<any value>, and give the application the same variable "
                            f"(--secret-env {variable})")
    return value

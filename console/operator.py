"""Who is acting: the OS account of the process, plus the SSH client's address as sshd reported it.

The account comes from the process's effective uid, never from `LOGNAME`/`USER`, which anyone can set.
The SSH address is what sshd put in the environment; it is recorded labelled as such, not as a proof.
"""
from __future__ import annotations

import ipaddress
import os
import pwd


def os_account() -> str:
    """The name of the process's effective uid (the uid itself when the system has no passwd entry for it)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def ssh_client_address(environ: dict[str, str] | None = None) -> str:
    """The client IP from SSH_CONNECTION ("client port server port") or SSH_CLIENT ("client port port"), or ""."""
    env = os.environ if environ is None else environ
    for name in ("SSH_CONNECTION", "SSH_CLIENT"):
        parts = env.get(name, "").split()
        if parts:
            try:
                return str(ipaddress.ip_address(parts[0].split("%")[0]))
            except ValueError:
                continue  # not an address: ignore it rather than record arbitrary text
    return ""


def origin(environ: dict[str, str] | None = None) -> str:
    """Where the operator connected from, labelled with its source: "ssh 203.0.113.7 (as reported by sshd)"."""
    address = ssh_client_address(environ)
    return f"ssh {address} (as reported by sshd)" if address else ""


def current_operator(environ: dict[str, str] | None = None) -> str:
    """The operator as recorded in every event: the OS account, and the SSH origin when there is one."""
    where = origin(environ)
    return f"{os_account()} via {where}" if where else os_account()

"""Who is acting: the OS user, plus the SSH client's address when the console runs over SSH."""
from __future__ import annotations

import getpass
import os


def current_operator() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    ssh = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION") or ""
    address = ssh.split()[0] if ssh.split() else ""
    return f"{user}@{address}" if address else user

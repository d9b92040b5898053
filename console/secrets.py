"""Secret references: the state stores `env:VAR` or `keyring:SERVICE/NAME`, never the value."""
from __future__ import annotations

import os
import re

from console.errors import BadInput, SecretMissing

_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyring:[^/\s]+/[^\s]+)$")
KEYRING_SERVICE = "idconsole"


def env_ref(var: str) -> str:
    ref = f"env:{var}"
    check_ref(ref)
    return ref


def check_ref(ref: str) -> str:
    if not _REF.match(ref or ""):
        raise BadInput(
            f"{ref!r} is not a secret reference",
            hint="give an environment variable name (env:SCIM_TOKEN) or a keyring entry (keyring:idconsole/NAME); "
            "secret values are never stored",
        )
    return ref


def resolve(ref: str) -> str:
    """The secret's value, read at the moment of use; a clear error when it is not there."""
    check_ref(ref)
    scheme, _, rest = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(rest, "")
        if not value:
            raise SecretMissing(f"environment variable {rest} is not set", hint=f"export {rest}=… before running idconsole")
        return value
    service, _, name = rest.partition("/")
    try:
        import keyring

        value = keyring.get_password(service, name) or ""
    except Exception as exc:  # no backend, locked keyring, ...
        raise SecretMissing(f"keyring entry {rest} cannot be read", detail=type(exc).__name__,
                            hint="unlock the keyring or use an environment variable instead") from None
    if not value:
        raise SecretMissing(f"keyring entry {rest} is empty", hint=f"store it: keyring set {service} {name}")
    return value


def store_in_keyring(name: str, value: str) -> str:
    """Put a secret typed by the operator into the keyring and return its reference."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, name, value)
    return f"keyring:{KEYRING_SERVICE}/{name}"

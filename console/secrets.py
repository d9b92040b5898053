"""Secret references: the state stores `env:VAR`, `keyring:SERVICE/NAME` or `file:PATH`, never the value.

References are resolved here, at the moment of use, for every caller. A `file:` secret must be readable only by
its owner (or the group of a home shared through its group), as systemd credentials are; one trailing newline is
stripped. No message of this module ever holds a secret's value.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from console import files
from console.errors import BadInput, SecretMissing

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyring:[^/\s]+/[^\s]+|file:\S.*)$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KEYRING_SERVICE = "idconsole"
REF_HINT = ("give an environment variable name (env:SCIM_TOKEN), a keyring entry (keyring:idconsole/NAME) or a file "
            "readable only by you (file:/run/credentials/idconsole/token); secret values are never stored")
_trusted_groups: set[int] = set()  # the groups of the homes opened in this process that are shared through a group


def trust_home_group(home: Path) -> None:
    """Allow group-readable `file:` secrets of the group of `home` when the home is shared through that group."""
    if files.is_shared(home):
        _trusted_groups.add(os.stat(home).st_gid)


def looks_like_token(value: str) -> bool:
    """True for a value that is more likely a pasted secret than the name of an environment variable."""
    if not _ENV_NAME.match(value):
        return True
    has_lower, has_upper, has_digit = (any(c.islower() for c in value), any(c.isupper() for c in value),
                                       any(c.isdigit() for c in value))
    return len(value) >= 20 and has_lower and has_digit and (has_upper or "_" not in value)


def env_ref(var: str, *, require_set: bool = True) -> str:
    """`env:VAR` for a variable name given by the operator (--token-env); refuses a pasted token and an unset variable."""
    var = var.strip()
    if looks_like_token(var):
        raise BadInput(
            "this looks like a token, not the name of an environment variable (the value is not repeated here)",
            hint="put the secret in a variable (export SCIM_TOKEN=…) and give its name: --token-env SCIM_TOKEN; "
                 "if it was a real token, consider it exposed (shell history) and rotate it",
        )
    if require_set and not os.environ.get(var):
        raise SecretMissing(f"environment variable {var} is not set",
                            hint=f"export {var}=… in this shell (and wherever idconsole runs: cron, systemd), then "
                                 "configure it again")
    ref = f"env:{var}"
    check_ref(ref)
    return ref


def check_ref(ref: str) -> str:
    """The reference itself when it is well formed; never echoes something that may be a secret value."""
    if not _REF.match(ref or ""):
        scheme = (ref or "").partition(":")[0]
        shown = f"{ref!r}" if ref and len(ref) < 40 and not looks_like_token(ref.replace(":", "_")) else (
            f"a {scheme!r} reference" if scheme in ("env", "keyring", "file") else "the value given")
        raise BadInput(f"{shown} is not a secret reference", hint=REF_HINT)
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
    if scheme == "file":
        return read_file_secret(Path(rest))
    service, _, name = rest.partition("/")
    try:
        import keyring

        value = keyring.get_password(service, name) or ""
    except Exception as exc:  # no backend, locked keyring, ...
        raise SecretMissing(f"keyring entry {rest} cannot be read", detail=type(exc).__name__,
                            hint="unlock the keyring, or use a file: or env: reference instead") from None
    if not value:
        raise SecretMissing(f"keyring entry {rest} is empty", hint=f"store it: keyring set {service} {name}")
    return value


def check_file_permissions(path: Path) -> None:
    """Refuse a secret file others may read or change: world bits, group write, or a group read it is not shared with."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SecretMissing(f"secret file {path} does not exist", hint="create it (mode 600), or fix the file: path") from None
    except PermissionError:
        raise SecretMissing(f"secret file {path} cannot be read by this account",
                            hint="make this account its owner, or give it to the home's group (chmod 640)") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretMissing(f"secret file {path} is not a regular file", hint="point file: at the file itself")
    mode = stat.S_IMODE(st.st_mode)
    group_read_allowed = st.st_gid in _trusted_groups
    if mode & 0o007 or mode & 0o020 or (mode & 0o040 and not group_read_allowed):
        raise SecretMissing(f"secret file {path} can be read or changed by other users (mode {mode:03o})",
                            hint=f"chmod 600 {path}")


def read_file_secret(path: Path) -> str:
    """The content of a `file:` secret (one trailing newline stripped), after checking who may read it."""
    check_file_permissions(path)
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretMissing(f"secret file {path} cannot be read", detail=type(exc).__name__,
                            hint="check that it is a readable UTF-8 text file") from None
    if value.endswith("\n"):
        value = value[:-2] if value.endswith("\r\n") else value[:-1]
    if not value:
        raise SecretMissing(f"secret file {path} is empty", hint="write the secret into it")
    return value


def file_ref(path: str | Path) -> str:
    """`file:PATH` for a file given by the operator: it must exist, be private, and hold a value now."""
    resolved = Path(path).expanduser().absolute()
    read_file_secret(resolved)
    return f"file:{resolved}"


def write_file_secret(home: Path, name: str, value: str) -> str:
    """Store a secret typed by the operator in HOME/secrets/NAME (private modes) and return its `file:` reference."""
    if not _SECRET_NAME.match(name):
        raise BadInput(f"{name!r} cannot name a secret file", hint="use letters, digits, '.', '_' and '-'")
    if not value:
        raise BadInput("the secret is empty", hint="type the secret")
    folder = Path(home) / "secrets"
    files.make_private_dir(folder, Path(home))
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        files.write_private(tmp, value.encode("utf-8"), home=Path(home))
        if files.is_shared(Path(home)):
            os.chmod(tmp, 0o640)  # the home's group reads it, nobody else; only the owner changes it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return f"file:{path.absolute()}"


def store_in_keyring(name: str, value: str) -> str:
    """Put a secret typed by the operator into the keyring and return its reference."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, name, value)
    return f"keyring:{KEYRING_SERVICE}/{name}"

"""One error taxonomy for the whole core: every error has a human title and says what to do next.

Connectors translate their library's errors into these classes in a single place each; the sync
engine decides retry / skip / fail / stop-this-application from the class alone.
"""
from __future__ import annotations

from typing import TypedDict, Unpack


class IdConsoleError(Exception):
    """Base class: `title` says what went wrong, `hint` what to do about it."""

    exit_code = 1

    def __init__(self, title: str, *, hint: str = "", detail: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        text = self.title
        if self.detail:
            text += f": {self.detail}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def to_dict(self) -> dict[str, str]:
        return {"error": type(self).__name__, "title": self.title, "detail": self.detail, "hint": self.hint}


# --- bad input / configuration (exit code 2) -------------------------------------------------
class BadInput(IdConsoleError):
    """The operator gave something we cannot use (a value, a file, an argument)."""

    exit_code = 2


class ValidationError(BadInput):
    """A field value breaks a rule; names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str, *, hint: str = "") -> None:
        super().__init__(f"{field}: {value!r} {rule}", hint=hint)
        self.field = field
        self.value = value
        self.rule = rule


class UnknownObject(BadInput):
    """A person, group, application or policy named by the operator does not exist locally."""


class ConfigError(BadInput):
    """An application or the console itself is not configured well enough to act."""


class NotConfigured(ConfigError):
    """A feature is not configured (or not built yet) on this installation."""


class SecretMissing(ConfigError):
    """A secret reference points at nothing (unset environment variable, empty keyring entry)."""


# --- local state ----------------------------------------------------------------------------
class StateError(IdConsoleError):
    exit_code = 2


class StateCorrupt(StateError):
    """The state file cannot be read; it is left untouched."""


class StateLocked(StateError):
    """Another process has held the home's write lock for longer than a write should take."""


class StaleData(StateError):
    """A change based on data another operator changed since it was loaded: refused, never applied over theirs."""


class ReadOnly(StateError):
    """A write was attempted in read-only mode."""


class JournalError(StateError):
    """The provisioning report cannot be written: the change it would record is not made (or the run stops)."""


# --- remote targets (the outcome of an operation is decided by the class) -------------------
class TargetErrorArgs(TypedDict, total=False):
    """The keyword arguments of TargetError, passed through by its subclasses."""

    hint: str
    detail: str
    status: int | None


class TargetError(IdConsoleError):
    """Something a target said or did. `status` is the HTTP/LDAP code when there is one."""

    def __init__(self, title: str, *, hint: str = "", detail: str = "", status: int | None = None) -> None:
        super().__init__(title, hint=hint, detail=detail)
        self.status = status


class TransientError(TargetError):
    """Worth retrying later: throttling (429), 5xx, resets. `retry_after` in seconds when known."""

    def __init__(self, title: str, *, retry_after: float | None = None, **kw: Unpack[TargetErrorArgs]) -> None:
        super().__init__(title, **kw)
        self.retry_after = retry_after


class Unreachable(TransientError):
    """The target cannot be reached at all (DNS, refused connection, TLS failure)."""


class NotFound(TargetError):
    """The remote object does not exist (any more)."""


class AlreadyExists(TargetError):
    """The remote object already exists; callers adopt it instead of failing."""

    def __init__(self, title: str, *, existing_uid: str | None = None, **kw: Unpack[TargetErrorArgs]) -> None:
        super().__init__(title, **kw)
        self.existing_uid = existing_uid


class Rejected(TargetError):
    """The target refused this one operation (invalid value, policy); other operations go on."""


class AuthFailed(TargetError):
    """Credentials rejected or expired: stop this application, the rest will fail the same way."""


class DeletionRefused(BadInput):
    """A run's deprovisions are not confirmed as the rules ask (a confirmation, or the exact total above the
    threshold); nothing of the run was applied."""

    exit_code = 2

    def __init__(self, title: str, *, count: int, hint: str = "") -> None:
        super().__init__(title, hint=hint or f"nothing was applied; check the plan, then confirm with --yes "
                                             f"--allow-deletes {count}")
        self.count = count


class DryRunBlocked(IdConsoleError):
    """A write tried to leave the process during a dry run (a bug: the engine should not ask)."""


class OutputFailed(BadInput):
    """The command's standard output could not be written (what the command did is done)."""


def output_failed(exc: OSError) -> OutputFailed:
    """The command's standard output could not be written (a redirection to a full disk): what and what to do."""
    return OutputFailed("cannot write the command's output", detail=exc.strerror or str(exc),
                        hint="where the output goes cannot take it (a full disk?): make room there or send it elsewhere")

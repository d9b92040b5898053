"""The one protocol every target connector implements, and the capabilities it declares.

Connectors take and return domain types (`RemoteAccount`, `RemoteGroup`), never SDK objects, and
translate their library's errors into `console.errors` in one place (`_request`/`_call`), which is
also where dry-run is enforced: in a dry run no write leaves the process.
"""
from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from console.models import Application, RemoteAccount, RemoteGroup, User


class Capability(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    GROUPS = "groups"
    MEMBERSHIPS = "memberships"
    IMPORT = "import"
    TEST = "test"


@dataclass
class ConnectionReport:
    """The answer to `apps test`: ok or not, one line for the operator, and details."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Setting:
    """One field of an application's configuration, used by the CLI, the forms and `apps show`."""

    name: str
    label: str
    required: bool = False
    default: Any = None
    secret: bool = False  # stored as a reference in Application.secrets, never as a value
    help: str = ""
    choices: tuple[str, ...] = ()
    kind: str = "str"  # str | int | bool | list


@runtime_checkable
class Connector(Protocol):
    """What the sync engine needs from a target. All I/O methods are async."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    async def test(self) -> ConnectionReport: ...

    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        """Pure: the attributes this target should hold for a person (what the plan diffs)."""
        ...

    def account_name(self, attrs: dict[str, Any]) -> str:
        """The natural key shown to operators (userName, UPN, sAMAccountName)."""
        ...

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None: ...

    async def create_user(self, attrs: dict[str, Any]) -> RemoteAccount:
        """Create, or adopt an existing account with the same natural key (never a duplicate).

        The returned attrs may carry one-shot keys the engine pops: `initial_password` (shown once to the
        operator, never stored), `adopted` (True when an existing account was linked), `warnings`.
        """
        ...

    async def update_user(self, uid: str, changes: dict[str, Any]) -> None: ...

    async def deactivate_user(self, uid: str) -> dict[str, Any]:
        """Deprovision reversibly; returns what must be remembered to restore (e.g. groups)."""
        ...

    async def reactivate_user(self, uid: str, remembered: dict[str, Any]) -> None: ...

    async def delete_user(self, uid: str) -> None: ...

    def list_users(self) -> AsyncIterator[RemoteAccount]: ...

    def list_groups(self) -> AsyncIterator[RemoteGroup]: ...

    async def create_group(self, name: str, description: str = "") -> RemoteGroup: ...

    async def delete_group(self, uid: str) -> None: ...

    async def add_members(self, group_uid: str, member_uids: list[str]) -> None: ...

    async def remove_members(self, group_uid: str, member_uids: list[str]) -> None: ...

    async def aclose(self) -> None: ...


class ConnectorFactory(Protocol):
    def __call__(self, app: Application, *, dry_run: bool = False) -> Connector: ...

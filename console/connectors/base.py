"""The one contract every target connector implements, and the capabilities a kind declares.

Connectors take and return domain types (`RemoteAccount`, `RemoteGroup`, `CreateResult`), never SDK objects,
and have one request function where library errors become `console.errors` (their text passed through
`console.redact`), where the mode stops writes (dry run, read-only) and where the one retry layer
(`console.connectors.retry`) runs.
"""
from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from console.connectors.value_limits import ValueLimits
from console.models import RemoteAccount, RemoteGroup, User
from console.redact import redact, redact_tree


class Role(str, enum.Enum):
    """What an application kind is for: a source of people, or a target that accounts are provisioned to."""

    SOURCE = "source"
    TARGET = "target"


class Capability(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    GROUPS = "groups"
    MEMBERSHIPS = "memberships"  # add/remove deltas, never "replace the member list"
    IMPORT = "import"
    TEST = "test"


@dataclass
class ConnectionReport:
    """The answer to `apps test`: ok or not, one line for the operator, and details."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def redacted(self, secrets: list[str]) -> ConnectionReport:
        """The same report with every text passed through `console.redact.redact`."""
        return ConnectionReport(self.ok, redact(self.message, secrets), redact_tree(self.details, secrets))


@dataclass
class CreateResult:
    """What `create_user` did: the account's immutable id and natural name, what it holds, whether an existing
    account was adopted, a one-shot initial password for the operator's eyes (never stored, hidden from
    repr) and warnings (e.g. a licence that could not be assigned)."""

    uid: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    adopted: bool = False
    initial_password: str | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, account: RemoteAccount, **extra: Any) -> CreateResult:
        return cls(uid=account.uid, name=account.name, attributes=dict(account.attrs), active=account.active, **extra)


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
    carries_secrets: bool = False  # a URL credentials are sent to: TLS unless loopback (connectors/tls.py)


@runtime_checkable
class Connector(Protocol):
    """What the sync engine needs from a target. All I/O methods are async."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    # Names the code of `account_attributes`: bump it whenever the same person and settings would give other
    # attributes, so that plans compute them again for everyone (tests/test_attributes_version.py checks it).
    attributes_version: ClassVar[str]

    def secrets(self) -> list[str]:
        """The application's secret values known so far (for redacting what the target says)."""
        ...

    async def test(self) -> ConnectionReport: ...

    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        """Pure: the attributes this target should hold for a person (what the plan diffs)."""
        ...

    def account_name(self, attrs: dict[str, Any]) -> str:
        """The natural key shown to operators (userName, UPN, sAMAccountName)."""
        ...

    def value_limits(self) -> ValueLimits:
        """Pure: what this target would refuse in `account_attributes` (the plan blocks such operations)."""
        ...

    def check_attributes(self, attrs: dict[str, Any]) -> list[str]:
        """Pure: what the target would refuse in `attrs` by its attribute syntax and limits (rangeUpper…)."""
        ...

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None: ...

    async def create_user(self, attrs: dict[str, Any]) -> CreateResult:
        """Create, or adopt an existing account with the same natural key (never a duplicate)."""
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


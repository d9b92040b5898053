"""Security groups and memberships in Microsoft Graph (a mixin of GraphConnector: it uses `_call`).

Membership changes are per-member `$ref` deltas: "already exist" on add and "do not exist" on remove mean
the desired state already holds; a 404 right after a create is replication lag and is retried.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from console.connectors.retry import RetryPolicy
from console.errors import IdConsoleError, NotFound, TransientError
from console.models import RemoteGroup

from .attrs import group_mail_nickname

if TYPE_CHECKING:  # msgraph and its client, imported by the methods that send: a plan never loads them
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_abstractions.default_query_parameters import QueryParameters
    from msgraph import GraphServiceClient
    from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder
    from msgraph.generated.models.group import Group

T = TypeVar("T")
GROUP_SELECT = ["id", "displayName", "description", "mailNickname", "securityEnabled", "mailEnabled", "groupTypes"]


def _remote_group(group: Group, members: list[str] | None = None, **extra: Any) -> RemoteGroup:
    attrs = {"description": group.description or "", "mailNickname": group.mail_nickname or "",
             "securityEnabled": bool(group.security_enabled), "groupTypes": list(group.group_types or []), **extra}
    return RemoteGroup(uid=str(group.id), name=str(group.display_name or ""), members=members or [], attrs=attrs)


def _remote_group_from_json(doc: dict[str, Any], members: list[str]) -> RemoteGroup:
    attrs = {"description": doc.get("description") or "", "mailNickname": doc.get("mailNickname") or "",
             "securityEnabled": bool(doc.get("securityEnabled")), "groupTypes": list(doc.get("groupTypes") or [])}
    return RemoteGroup(uid=str(doc["id"]), name=str(doc.get("displayName") or ""), members=members, attrs=attrs)


class GroupOperations:
    base_url: str
    retry: RetryPolicy
    sleep: Callable[[float], Awaitable[Any]]

    if TYPE_CHECKING:
        async def _call(self, op: str, request: Callable[[GraphServiceClient], Awaitable[T]], *, retry_not_found: bool = False) -> T: ...

    async def _group_by_name(self, name: str) -> Group | None:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder  # noqa: PLC0415
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415

        params = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
            filter=f"displayName eq '{name.replace(chr(39), chr(39) * 2)}'", select=GROUP_SELECT, top=5)
        config = RequestConfiguration(query_parameters=params)
        page = await self._call(f"look up group {name}", lambda c: c.groups.get(config))
        found = list(page.value or []) if page else []
        return found[0] if found else None

    async def create_group(self, name: str, description: str = "") -> RemoteGroup:
        """Create a security group, or adopt the existing group with that display name.

        Group names are not unique in Entra ID, so the SDK must not resend this POST on its own after a 503/504
        (the first may have gone through): only 429 (never processed) is retried here; anything else is looked
        up by name before it is reported."""
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.models.group import Group  # noqa: PLC0415
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
        from kiota_http.middleware.options import RetryHandlerOption  # noqa: PLC0415

        existing = await self._group_by_name(name)
        if existing is not None:
            return _remote_group(existing, adopted=True)
        body = Group(display_name=name, description=description or None, mail_enabled=False,
                     mail_nickname=group_mail_nickname(name), security_enabled=True, group_types=[])
        no_resend: RequestConfiguration[QueryParameters] = RequestConfiguration(
            options=[RetryHandlerOption(should_retry=False)])
        created: Group | None = None
        tries = max(1, self.retry.attempts)  # the SDK's handler is off for this POST: 429s are retried here
        for attempt in range(tries):
            try:
                created = await self._call(f"create group {name}", lambda c: c.groups.post(body, no_resend))
                break
            except TransientError as exc:
                if exc.status == 429 and attempt < tries - 1:
                    await self.sleep(exc.retry_after if exc.retry_after is not None else self.retry.backoff(attempt + 1))
                    continue
                existing = await self._group_by_name(name)  # the POST may have gone through
                if existing is None:
                    raise
                return _remote_group(existing, adopted=True)
        if created is None:
            raise NotFound(f"Graph returned no group for {name}")
        return _remote_group(created)

    async def delete_group(self, uid: str) -> None:
        """Security groups are deleted for good (only Microsoft 365 groups go to deleted items)."""
        try:
            await self._call(f"delete group {uid}", lambda c: c.groups.by_group_id(uid).delete())
        except NotFound:
            return

    async def _members(self, group_uid: str) -> list[str]:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder  # noqa: PLC0415
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
        from .client import plain_json  # noqa: PLC0415

        params = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(select=["id"], top=999)
        config = plain_json(RequestConfiguration(query_parameters=params))

        def builder(c: GraphServiceClient) -> MembersRequestBuilder:
            return c.groups.by_group_id(group_uid).members

        page: Any = await self._call(f"list members of {group_uid}", lambda c: builder(c).get(config))
        members: list[str] = []
        while page:
            members += [str(m["id"]) for m in page.get("value") or []]
            link = page.get("@odata.nextLink")
            if not link:
                break
            page = await self._call(f"list members of {group_uid}", lambda c: builder(c).with_url(link).get(config))
        return members

    async def list_groups(self) -> AsyncIterator[RemoteGroup]:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder  # noqa: PLC0415
        from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: PLC0415
        from .client import plain_json  # noqa: PLC0415

        params = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(select=GROUP_SELECT, top=999)
        config = plain_json(RequestConfiguration(query_parameters=params))
        page: Any = await self._call("list groups", lambda c: c.groups.get(config))
        while page:
            for doc in page.get("value") or []:
                yield _remote_group_from_json(doc, await self._members(str(doc["id"])))
            link = page.get("@odata.nextLink")
            if not link:
                break
            page = await self._call("list groups", lambda c: c.groups.with_url(link).get(config))

    async def _add_member(self, group_uid: str, member_uid: str) -> None:
        # msgraph: loaded at the first request (a plan sends none)
        from msgraph.generated.models.reference_create import ReferenceCreate  # noqa: PLC0415
        from .client import is_member_exists  # noqa: PLC0415

        body = ReferenceCreate(odata_id=f"{self.base_url}/directoryObjects/{member_uid}")
        try:
            await self._call(f"add {member_uid} to group {group_uid}",
                             lambda c: c.groups.by_group_id(group_uid).members.ref.post(body), retry_not_found=True)
        except IdConsoleError as exc:
            if not is_member_exists(exc):
                raise

    async def _remove_member(self, group_uid: str, member_uid: str) -> None:
        # msgraph: loaded at the first request (a plan sends none)
        from .client import is_member_missing  # noqa: PLC0415

        try:
            await self._call(f"remove {member_uid} from group {group_uid}",
                             lambda c: c.groups.by_group_id(group_uid).members.by_directory_object_id(member_uid)
                             .ref.delete())
        except NotFound:
            return  # the member or the group is gone: the membership is gone too
        except IdConsoleError as exc:
            if not is_member_missing(exc):
                raise

    async def add_members(self, group_uid: str, member_uids: list[str]) -> None:
        await _all(self._add_member(group_uid, uid) for uid in dict.fromkeys(member_uids))

    async def remove_members(self, group_uid: str, member_uids: list[str]) -> None:
        await _all(self._remove_member(group_uid, uid) for uid in dict.fromkeys(member_uids))


async def _all(calls: Any) -> None:
    """Run the calls concurrently (the connector's semaphore bounds them); raise the first failure after all end."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

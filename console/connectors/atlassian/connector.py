"""Atlassian (Bitbucket Cloud, Jira, Confluence) user provisioning over Atlassian's SCIM 2.0 directory API.

Deprovisioning is `PATCH active=false` (reversible, keeps the SCIM id); DELETE is used only when the
application asks for it, because Atlassian then drops the SCIM record for good. Creation is optimistic:
userName is unique in the directory, so a POST that collides answers 409 and the existing account is
looked up and adopted; a POST whose answer was lost is looked up before it is ever sent again.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from console.connectors import KINDS, limits, tls
from console.connectors.base import Capability, ConnectionReport, CreateResult, Setting
from console.connectors.value_limits import ValueLimits
from console.connectors.attribute_limits import ATLASSIAN_LIMITS, Limit, check_attributes
from console.connectors.mode import Mode
from console.connectors.retry import SETTINGS as RETRY_SETTINGS
from console.connectors.retry import RetryPolicy
from console.errors import AlreadyExists, ConfigError, IdConsoleError, NotFound, Rejected, TransientError
from console.models import FEATURES, Application, RemoteAccount, RemoteGroup, User

from . import payloads as p
from .auth import DEFAULT_TOKEN_URL, token_source
from .errors import OutcomeUnknown

if TYPE_CHECKING:
    import httpx

    from .http import ScimHttp

BASE_URL_HINT = "give the directory base URL: https://api.atlassian.com/scim/directory/{directoryId}"

SETTINGS: list[Setting] = [
    Setting("base_url", "Directory base URL", required=True, carries_secrets=True,
            help="https://api.atlassian.com/scim/directory/{directoryId}, shown once when the directory's "
                 "user provisioning is set up (admin.atlassian.com > Security > Identity providers)"),
    Setting("token", "Directory API key", secret=True,
            help="the directory's own API key (not an org admin key, not a site API token), sent as a bearer token"),
    Setting("client_id", "OAuth client id", help="optional: OAuth 2.0 client credentials instead of an API key"),
    Setting("client_secret", "OAuth client secret", secret=True, help="with client_id"),
    Setting("token_url", "OAuth token URL", default=DEFAULT_TOKEN_URL, help="with client_id", carries_secrets=True),
    Setting("verified_domains", "Verified domains", kind="list",
            help="the organisation's verified domains (admin.atlassian.com > Directory > Domains): Atlassian "
                 "creates accounts only for e-mails on them, so the plan blocks anyone else"),
    *RETRY_SETTINGS,
    tls.SETTING,
    limits.SETTING,
    # Application fields (not stored in settings): shown with the settings, changed with `apps set`.
    Setting("max_concurrency", "Maximum concurrent requests", kind="int",
            help="Application.max_concurrency: requests in flight at once (apps set NAME max_concurrency=8)"),
    Setting("features", "Provisioning features", kind="list", choices=FEATURES,
            help="Application.features: create, update, deactivate, delete users; groups; memberships "
                 "(apps set NAME features.delete=on); an operation whose feature is off is refused"),
    Setting("deprovision", "Deprovision by", choices=("deactivate", "delete"),
            help="Application.deprovision: deactivate (PATCH active=false, reversible) or delete "
                 "(drops the SCIM record)"),
]


class AtlassianConnector:
    kind: ClassVar[str] = "atlassian"
    capabilities: ClassVar[frozenset[Capability]] = KINDS["atlassian"].capabilities
    attributes_version: ClassVar[str] = p.ATTRIBUTES_VERSION

    def __init__(self, app: Application, *, mode: Mode = Mode.LIVE, transport: httpx.AsyncBaseTransport | None = None,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], Awaitable[Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        settings = app.settings
        base_url = str(settings.get("base_url") or "").strip()
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"{app.name}: base_url {base_url!r} is not an http(s) URL", hint=BASE_URL_HINT)
        self.directory_id = base_url.rstrip("/").rsplit("/", 1)[-1]
        self.mode = mode
        self._limits = p.value_limits(settings.get("verified_domains"))
        # every setting is checked here; the HTTP client (httpx, its TLS context) is built at the first request
        # (`http`): a plan without --reconcile never sends one, and never pays for it
        self._base_url, self._tokens = base_url, token_source(app)
        self._retry = retry or RetryPolicy.from_settings(settings)
        self._transport, self._sleep, self._clock = transport, sleep, clock
        self._http: ScimHttp | None = None

    @property
    def http(self) -> ScimHttp:
        """The connector's client, built on first use."""
        if self._http is None:
            from .http import ScimHttp  # noqa: PLC0415 - httpx: loaded by the first request, not by a plan

            extra = {"sleep": self._sleep} if self._sleep is not None else {}
            self._http = ScimHttp(self._base_url, self._tokens, max_concurrency=self.app.max_concurrency,
                                  mode=self.mode, retry=self._retry,
                                  transport=limits.bounded(self._transport, self.app.settings),
                                  clock=self._clock, **extra)
        return self._http

    def secrets(self) -> list[str]:
        return self._tokens.secrets()

    # ---- configuration gates -------------------------------------------------------------------
    def _require(self, feature: str, action: str) -> None:
        if not self.app.feature(feature):
            raise ConfigError(f"{self.app.name}: cannot {action}: the {feature!r} feature is off",
                              hint=f"turn it on with: idconsole apps set {self.app.name} features.{feature}=on")

    # ---- connection check ----------------------------------------------------------------------
    async def test(self) -> ConnectionReport:
        """One page of Users proves the host, TLS, directory id and key; ServiceProviderConfig adds details."""
        self.http.retry = self.http.retry.for_test()
        try:
            page = await self.http.request("GET", "/Users", params={"startIndex": 1, "count": 1})
            total, _ = p.list_page(page)
        except IdConsoleError as exc:
            return ConnectionReport(ok=False, message=str(exc), details={"error": type(exc).__name__})
        details: dict[str, Any] = {"directory": self.directory_id, "users": total}
        try:
            config = await self.http.request("GET", "/ServiceProviderConfig")
            patch = (config or {}).get("patch")
            details["patch"] = bool(patch.get("supported")) if isinstance(patch, dict) else False
        except IdConsoleError:
            pass
        return ConnectionReport(ok=True, message=f"connected to directory {self.directory_id} ({total} users)",
                                details=details)

    # ---- users ---------------------------------------------------------------------------------
    def account_attributes(self, user: User, login_method: str) -> dict[str, Any]:
        return p.account_attributes(user, login_method)

    def account_name(self, attrs: dict[str, Any]) -> str:
        return str(attrs.get("userName", ""))

    def value_limits(self) -> ValueLimits:
        return self._limits

    def _within_limits(self, attrs: dict[str, Any]) -> None:
        """Refuse before sending what Atlassian would refuse (the plan blocks these; this guards other callers)."""
        problems = self._limits.problems(attrs)
        if problems:
            raise Rejected("Atlassian would refuse this account", detail="; ".join(problems),
                           hint="give the person an e-mail on a verified domain of the organisation")
    def limits(self) -> dict[str, Limit]:
        return ATLASSIAN_LIMITS

    def check_attributes(self, attrs: dict[str, Any]) -> list[str]:
        """What the directory would refuse in `attrs`, before anything is sent."""
        return check_attributes(self.app.name, ATLASSIAN_LIMITS, attrs)

    async def _search(self, collection: str, attribute: str, value: str) -> list[dict[str, Any]]:
        body = await self.http.request("GET", f"/{collection}", params={"filter": p.eq_filter(attribute, value)})
        return p.list_page(body or {"totalResults": 0})[1]

    async def _find_user_doc(self, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """The directory user for these attributes: by externalId (the IdP's key), else by userName."""
        user_name = str(attrs.get("userName") or "")
        if attrs.get("externalId"):
            found = await self._search("Users", "externalId", str(attrs["externalId"]))
            if len(found) > 1:
                same = [d for d in found if str(d.get("userName", "")).casefold() == user_name.casefold()]
                if len(same) != 1:
                    raise Rejected(f"{len(found)} directory users have externalId {attrs['externalId']!r}",
                                   hint="remove the duplicates in the directory, then sync again")
                found = same
            if found:
                return found[0]
        if user_name:
            found = await self._search("Users", "userName", user_name)
            return found[0] if found else None
        return None

    async def find_user(self, attrs: dict[str, Any]) -> RemoteAccount | None:
        doc = await self._find_user_doc(attrs)
        return p.to_account(doc) if doc else None

    async def _create(self, collection: str, payload: dict[str, Any],
                      find: Callable[[], Awaitable[dict[str, Any] | None]]) -> tuple[dict[str, Any], bool]:
        """POST once; on 409 or a lost answer, adopt what a lookup finds. Returns (resource, adopted)."""
        attempts = self.http.retry.start(clock=self.http.clock, sleep=self.http.sleep)
        while True:
            attempts.begin()
            try:
                doc = await self.http.request("POST", f"/{collection}", json=payload)
                if doc and doc.get("id"):
                    return doc, False
                found = await find()  # 201 without a body: read it back
                if found:
                    return found, False
                raise TransientError(f"the directory accepted the {collection[:-1].lower()} but does not show it",
                                     hint="sync again in a moment")
            except AlreadyExists as exc:
                found = await find()
                if found:
                    return found, True
                raise Rejected(f"the directory refuses the {collection[:-1].lower()} as a duplicate (409) but no "
                               "match was found", detail=exc.detail, status=409,
                               hint="another account holds this e-mail or name; change it there or unlink it "
                                    "(admin.atlassian.com, or the org API's unlink/onlyDeleteUserInDB)") from None
            except OutcomeUnknown as exc:
                found = await find()
                if found:
                    return found, True
                wait = attempts.delay()
                if wait is None:
                    raise TransientError(exc.title, detail=exc.detail, status=exc.status,
                                         hint="nothing was created; try again later") from None
                await attempts.pause(wait)

    async def create_user(self, attrs: dict[str, Any]) -> CreateResult:
        self._require("create", "create accounts")
        self._within_limits(attrs)
        doc, adopted = await self._create("Users", p.user_payload(attrs), lambda: self._find_user_doc(attrs))
        account = p.to_account(doc)
        if adopted:  # bring the linked account to what a create would have made; linking itself never fails
            changes = p.differences(attrs, account.attrs)
            if changes and self.app.feature("update"):
                try:
                    await self.http.request("PATCH", f"/Users/{account.uid}", json=p.user_patch(changes))
                except (Rejected, AlreadyExists):
                    return CreateResult.of(account, adopted=True)  # what the directory holds: the drift stays visible
                account.attrs.update(changes)
                account.active = bool(account.attrs.get("active", True))
        return CreateResult.of(account, adopted=adopted)

    async def update_user(self, uid: str, changes: dict[str, Any]) -> None:
        self._require("update", "update accounts")
        if not changes:
            return
        self._within_limits(changes)
        try:
            await self.http.request("PATCH", f"/Users/{uid}", json=p.user_patch(changes))
        except AlreadyExists as exc:
            raise Rejected("the directory refuses the change: the value belongs to another account (409)",
                           detail=exc.detail, status=409,
                           hint="an e-mail can belong to one Atlassian account only; change the other account",
                           ) from None

    async def _deactivate(self, uid: str) -> bool:
        """PATCH active=false and check the answer (ACCESS-1388: accounts left active); False when gone."""
        try:
            body = await self.http.request("PATCH", f"/Users/{uid}", json=p.user_patch({"active": False}))
        except NotFound:
            return False
        if isinstance(body, dict) and body.get("active") is True:
            raise Rejected(f"the directory still shows user {uid} as active after deactivation",
                           hint="deactivate the account in admin.atlassian.com and report it to Atlassian support")
        return True

    async def deactivate_user(self, uid: str) -> dict[str, Any]:
        """PATCH active=false, the normal deprovision; NotFound when the SCIM record is gone (the engine unlinks)."""
        self._require("deactivate", "deactivate accounts")
        if not await self._deactivate(uid):
            raise NotFound(f"the directory no longer holds user {uid}", hint="nothing to deactivate: it is unlinked")
        return {}

    async def reactivate_user(self, uid: str, remembered: dict[str, Any]) -> None:
        """PATCH active=true; NotFound when the SCIM record is gone (the engine creates the account anew)."""
        self._require("deactivate", "reactivate accounts")
        await self.http.request("PATCH", f"/Users/{uid}", json=p.user_patch({"active": True}))

    async def delete_user(self, uid: str) -> None:
        """Deactivate, then DELETE, which drops the SCIM record for good; 404 means already gone.

        The explicit deactivation first is there because a deleted link has left accounts active (ACCESS-1388).
        """
        if self.app.deprovision != "delete" and not self.app.feature("delete"):
            raise ConfigError(f"{self.app.name}: deleting is off (deprovision={self.app.deprovision})",
                              hint=f"deactivate instead, or: idconsole apps set {self.app.name} features.delete=on")
        if not await self._deactivate(uid):
            return
        try:
            await self.http.request("DELETE", f"/Users/{uid}")
        except NotFound:
            return

    async def _pages(self, collection: str) -> AsyncIterator[dict[str, Any]]:
        """Every resource, 1-based startIndex paging (at most 100 a page), each once even if pages shift."""
        start, seen = 1, set()
        while True:
            body = await self.http.request("GET", f"/{collection}", params={"startIndex": start, "count": p.PAGE_SIZE})
            total, resources = p.list_page(body or {})
            for doc in resources:
                if doc.get("id") not in seen:
                    seen.add(doc.get("id"))
                    yield doc
            start += len(resources)
            if not resources or start > total:
                return

    async def list_users(self) -> AsyncIterator[RemoteAccount]:
        async for doc in self._pages("Users"):
            yield p.to_account(doc)

    # ---- groups --------------------------------------------------------------------------------
    async def list_groups(self) -> AsyncIterator[RemoteGroup]:
        async for doc in self._pages("Groups"):
            yield p.to_group(doc)

    async def _find_group_doc(self, name: str) -> dict[str, Any] | None:
        found = await self._search("Groups", "displayName", name)
        return found[0] if found else None

    async def create_group(self, name: str, description: str = "") -> RemoteGroup:
        self._require("groups", "create groups")
        if p.is_default_group(name):
            raise Rejected(f"{name!r} is an Atlassian default or built-in group: Atlassian would accept it and "
                           "silently not sync it", hint="push a group with another name and give it product access "
                                                        "in admin.atlassian.com")
        existing = await self._find_group_doc(name)
        if existing:
            return p.to_group(existing)
        doc, _ = await self._create("Groups", p.group_payload(name), lambda: self._find_group_doc(name))
        return p.to_group(doc)

    async def delete_group(self, uid: str) -> None:
        self._require("groups", "delete groups")
        try:
            await self.http.request("DELETE", f"/Groups/{uid}")
        except NotFound:
            return

    async def add_members(self, group_uid: str, member_uids: list[str]) -> None:
        self._require("memberships", "change group members")
        for body in p.add_members_patches(member_uids):
            await self.http.request("PATCH", f"/Groups/{group_uid}", json=body)

    async def remove_members(self, group_uid: str, member_uids: list[str]) -> None:
        self._require("memberships", "change group members")
        for body in p.remove_members_patches(member_uids):
            await self.http.request("PATCH", f"/Groups/{group_uid}", json=body)

    async def aclose(self) -> None:
        if self._http is not None:  # never built: nothing to close
            await self._http.aclose()


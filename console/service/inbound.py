"""Inbound sources (Bitbucket): their endpoints, their attribute mapping, and the import run.

Every configuration change is checked, refused in read-only mode, and recorded as an event, whichever
front end asks."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

from console.errors import BadInput, UnknownObject
from console.connectors import is_source
from console.models import Application
from console.service.base import ServiceBase, writes
from console.sync.confirm import Confirmation

if TYPE_CHECKING:  # endpoints, mappings and the import run (the Bitbucket connector, httpx) load on first use
    from console.inbound.endpoints import Endpoint, EndpointTest
    from console.inbound.run import ImportResult
    from console.mapping import MappedRecord, Mapping

__all__ = ["InboundMixin"]

MAPPING_OPTIONS = frozenset({"name", "description", "category", "endpoints", "primary_key", "mappings", "match_on"})


@functools.cache
def _endpoint_options() -> frozenset[str]:
    from console.inbound.endpoints import Endpoint

    return frozenset(f.name for f in dataclass_fields(Endpoint)) - {"id", "app", "fields"}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


CONTENT = ("category", "endpoints", "primary_key", "mappings", "match_on")  # what a mapping does, beside its title


def _retitle_if_changed_default(mapping: Mapping, default: Mapping) -> None:
    """A mapping saved with the default's title but not its content is no longer the default: it is titled as
    the application's own mapping (unless the operator gave it a title of their own)."""
    if (mapping.name, mapping.description) != (default.name, default.description):
        return
    default_doc, doc = default.to_doc(), mapping.to_doc()
    if any(doc.get(key) != default_doc.get(key) for key in CONTENT):
        mapping.name = f"{mapping.app} mapping"
        mapping.description = "changed from the default mapping"


class InboundMixin(ServiceBase):
    def source(self, name: str) -> Application:
        app = self.app(name)
        if not is_source(app.kind):
            raise BadInput(f"{app.name} is a {app.kind} target, not an inbound source", hint="use a bitbucket application")
        return app

    # ---- endpoints ---------------------------------------------------------------------------
    def endpoints(self, app: str) -> list[Endpoint]:
        from console.inbound import endpoints as endpoint_store

        return endpoint_store.load_endpoints(self.store, self.source(app).name)

    def endpoint(self, app: str, name: str) -> Endpoint:
        found = self.endpoints(app)
        for endpoint in found:
            if endpoint.name.casefold() == name.casefold():
                return endpoint
        names = ", ".join(repr(e.name) for e in found)
        raise UnknownObject(f"{app} has no endpoint {name!r}", hint=f"its endpoints: {names}")

    @writes
    def save_endpoint(self, app: str, name: str, *, original: str | None = None, remove: list[str] | None = None,
                      **options: Any) -> Endpoint:
        """Add an endpoint or change one (`original` = its current name when renaming); options are Endpoint fields,
        `headers`/`params` are merged, `remove` drops params or headers by name."""
        from console.inbound import endpoints as endpoint_store
        from console.inbound.endpoints import Endpoint

        self._writable()
        source = self.source(app)
        known = _endpoint_options()
        unknown = set(options) - known
        if unknown:
            raise BadInput(f"endpoints have no option {', '.join(sorted(unknown))}",
                           hint=f"options: {', '.join(sorted(known))}")
        try:
            endpoint = self.endpoint(source.name, original or name)
            before = endpoint.to_doc()
        except UnknownObject:
            if not options.get("url"):
                raise BadInput("a new endpoint needs a URL",
                               hint="e.g. --url '{base_url}/workspaces/{workspace}/permissions'") from None
            endpoint = Endpoint(name=name, app=source.name, url=options["url"], primary=False)
            before = {}
        endpoint.name = name.strip()
        for key, value in options.items():
            if value is None:
                continue
            if key in ("headers", "params"):
                getattr(endpoint, key).update(value)
            elif key in ("pagelen", "max_pages"):
                setattr(endpoint, key, int(value))
            else:
                setattr(endpoint, key, value)
        for key in remove or []:
            endpoint.params.pop(key, None)
            endpoint.headers.pop(key, None)
        endpoint_store.save_endpoint(self.store, endpoint)
        self._record("endpoint_update" if before else "endpoint_create", app=source.name, message=endpoint.name,
                     changes=_diff(before, endpoint.to_doc()))
        return endpoint

    async def test_endpoint(self, app: str, name: str) -> EndpointTest:
        """"Test & save": read the first page and keep its fields (saved unless read-only); the fields with samples
        and the warnings to show (an empty first page)."""
        from console.connectors import make_source
        from console.inbound import endpoints as endpoint_store
        from console.inbound.endpoints import EndpointTest, test_warnings

        source_app = self.source(app)
        endpoint = self.endpoint(source_app.name, name)
        source = make_source(source_app)
        try:
            samples = await endpoint_store.test_endpoint(source, endpoint)  # the network part, without writing
        finally:
            await source.aclose()
        if not self.readonly:
            with self.lock:
                endpoint_store.save_endpoint(self.store, endpoint)
                self._record("endpoint_test", app=source_app.name, message=f"{endpoint.name}: {len(samples)} fields")
        return EndpointTest(endpoint, samples, saved=not self.readonly, warnings=test_warnings(samples))

    @writes
    def delete_endpoint(self, app: str, name: str, *, confirm: bool = False) -> Endpoint:
        from console.inbound import endpoints as endpoint_store

        self._writable()
        endpoint = self.endpoint(app, name)
        if not confirm:
            raise BadInput(f"deleting endpoint {endpoint.name!r} needs confirmation", hint="pass --yes")
        endpoint_store.delete_endpoint(self.store, endpoint.app, endpoint.name)
        self._record("endpoint_delete", app=endpoint.app, message=endpoint.name)
        return endpoint

    # ---- mapping -----------------------------------------------------------------------------
    def mapping(self, app: str) -> Mapping:
        from console.mapping import load_mapping

        source = self.source(app)
        return load_mapping(self.store, source.name, self.endpoints(source.name))

    @writes
    def save_mapping(self, app: str, *, unmap: list[str] | None = None, **options: Any) -> tuple[Mapping, list[str]]:
        """Change the mapping (options: name, description, category, endpoints, primary_key, match_on, and
        `mappings` merged in; `unmap` drops target attributes); returns it with the warnings of its check."""
        from console.mapping import default_for, save_mapping

        self._writable()
        unknown = set(options) - MAPPING_OPTIONS
        if unknown:
            raise BadInput(f"mappings have no option {', '.join(sorted(unknown))}",
                           hint=f"options: {', '.join(sorted(MAPPING_OPTIONS))}")
        mapping = self.mapping(app)
        before = mapping.to_doc()
        for key, value in options.items():
            if value is None:
                continue
            if key == "mappings":
                mapping.mappings.update(value)
            elif key == "match_on":
                mapping.match_on = [m for m in value if m]
            else:
                setattr(mapping, key, value)
        for target in unmap or []:
            mapping.mappings.pop(target, None)
        _retitle_if_changed_default(mapping, default_for(self.store, mapping.app, self.endpoints(mapping.app)))
        warnings = save_mapping(self.store, mapping)
        self._record("mapping_update", app=mapping.app, message=mapping.name, changes=_diff(before, mapping.to_doc()))
        return mapping, warnings

    async def preview_mapping(self, app: str, *, limit: int = 20, mapping: Mapping | None = None) -> list[MappedRecord]:
        """The mapping (saved, or the one given) applied to the first page of real records; nothing is written."""
        from console.inbound.run import preview

        return await preview(self.store, self.source(app), mapping, limit=limit)

    # ---- import ------------------------------------------------------------------------------
    async def import_source(self, app: str, confirmation: Confirmation | None = None, *,
                            dry_run: bool = False) -> ImportResult:
        """Fetch every page, map, upsert people: joiners, movers, leavers (above the threshold only with a
        `confirmation` of their exact number)."""
        from console.inbound.run import run_import

        if not dry_run:
            self._writable()
        confirmation = dataclasses.replace(confirmation or Confirmation(), by=self.operator)
        result = await run_import(self.store, self.source(app), dry_run=dry_run, operator=self.operator,
                                  confirmation=confirmation)
        if not dry_run:
            with self.lock, self.store.writing():
                self._after_people_change()  # rule groups follow the imported people
        return result

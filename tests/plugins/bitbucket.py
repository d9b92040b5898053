"""Fixtures for the Bitbucket inbound tests: a sandbox per test, an application, a store, the spec checker."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.plugins.vendor_documents import register_peer, unregister_peer

from console.models import Application
from console.sandbox.bitbucket import BitbucketState, SandboxHandle, make_membership, start_in_thread

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "bitbucket-users-subset.json"  # see tests/specs/README.md
BB_CLIENT_ID = "idc-test-consumer"
BB_SECRET = "s3cret-consumer-value"

PEOPLE = [
    ("557058:aa01", "Alice Smith", "alice"),
    ("557058:aa02", "Bob van der Berg", "bob"),
    ("557058:aa03", "Zoë Ångström", "zoe"),
    ("557058:aa04", "李小龙", "xiaolong"),
    ("557058:aa05", "Carol Jones", "carol"),
    ("557058:aa06", "Dan Brown", "dan"),
]


def bb_memberships(people: list[tuple[str, str, str]] | None = None, workspace: str = "acme",
                   **extra: Any) -> list[dict[str, Any]]:
    return [make_membership(aid, name, nickname=nick, workspace=workspace, **extra) for aid, name, nick in
            (people if people is not None else PEOPLE)]


class SpecChecker:
    """Validates JSON bodies against the Bitbucket spec subset: type, required, properties,
    additionalProperties, items, enum, format uri, minimum, $ref, allOf and the `type` discriminator."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.defs: dict[str, Any] = spec["definitions"]
        self.base = spec.get("basePath", "")
        self.routes = [(re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p)
                       for p in spec["paths"]]

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any]:
        path = path[len(self.base):] if path.startswith(self.base) else path
        for pattern, template in self.routes:
            if pattern.match(path):
                responses = self.spec["paths"][template][method.lower()]["responses"]
                response = responses.get(str(status)) or responses.get("default")
                if response is None or "schema" not in response:
                    assert status >= 400, f"{method} {template} {status} is not in the spec"
                    return {"$ref": "#/definitions/error"}
                return response["schema"]  # type: ignore[no-any-return]
        raise AssertionError(f"{path} is not a path of the spec subset")

    def check_response(self, method: str, url: str, status: int, body: Any) -> list[str]:
        return self.check(body, self.response_schema(method, urlsplit(url).path, status))

    def check(self, value: Any, schema: dict[str, Any], where: str = "$",
              active: frozenset[str] = frozenset()) -> list[str]:
        errors: list[str] = []
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return self.check(value, self.defs[name], where, active | {name})
        for part in schema.get("allOf", []):
            errors += self.check(value, part, where, active)
        kind = schema.get("type")
        types = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
        if kind and (not isinstance(value, types[kind]) or (kind in ("integer", "number") and isinstance(value, bool))):
            return errors + [f"{where}: expected {kind}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} not in {schema['enum']}")
        if schema.get("format") == "uri" and isinstance(value, str):
            parts = urlsplit(value)
            if not (parts.scheme and parts.netloc):
                errors.append(f"{where}: {value!r} is not an absolute URI")
        if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
            errors.append(f"{where}: {value} < minimum {schema['minimum']}")
        if isinstance(value, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    errors.append(f"{where}: missing required {name!r}")
            for name, item in value.items():
                if name in props:
                    errors += self.check(item, props[name], f"{where}.{name}", active)
                elif schema.get("additionalProperties") is False:
                    errors.append(f"{where}: unexpected property {name!r}")
            sub = value.get("type")
            if schema.get("discriminator") == "type" and isinstance(sub, str) and sub in self.defs \
                    and sub not in active:
                errors += self.check(value, self.defs[sub], where, active | {sub})
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                errors += self.check(item, schema["items"], f"{where}[{i}]", active)
            if schema.get("uniqueItems"):
                dumped = [json.dumps(v, sort_keys=True) for v in value]
                if len(set(dumped)) != len(dumped):
                    errors.append(f"{where}: items are not unique")
        return errors


@pytest.fixture(scope="session")
def bb_spec() -> SpecChecker:
    assert SPEC_PATH.exists(), f"spec subset not found at {SPEC_PATH}"
    return SpecChecker(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@pytest.fixture
def bb_sandbox() -> Iterator[SandboxHandle]:
    """A fresh sandbox with workspace `acme` holding PEOPLE, and one OAuth consumer."""
    handle = start_in_thread(BitbucketState(bb_memberships(), workspace="acme", clients={BB_CLIENT_ID: BB_SECRET},
                                            api_tokens={"robot@example.com": "atl-api-token-value"}))
    register_peer(handle.url, "bitbucket")
    yield handle
    unregister_peer(handle.url)
    handle.stop()


@pytest.fixture
def bb_app(bb_sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.setenv("BB_TEST_SECRET", BB_SECRET)
    monkeypatch.setenv("BB_TEST_API_TOKEN", "atl-api-token-value")
    return Application(name="bb", kind="bitbucket",
                       settings={"workspace": "acme", "client_id": BB_CLIENT_ID, "auth": "oauth",
                                 "base_url": bb_sandbox.base_url, "token_url": bb_sandbox.token_url,
                                 "timeout": 10.0, "max_wait": 5.0},
                       secrets={"client_secret": "env:BB_TEST_SECRET"})


@pytest.fixture
def bb_store(tmp_path: Path, bb_app: Application) -> Iterator[Any]:
    from console.store import Store

    store = Store.open(tmp_path / "home")
    store.applications.put(bb_app)
    store.flush()
    yield store
    store.close()


@pytest.fixture
def bb_members():
    """The membership factory: bb_members(people=None, workspace="acme", **make_membership options)."""
    return bb_memberships


@pytest.fixture
def bb_people() -> list[tuple[str, str, str]]:
    return list(PEOPLE)

"""pytest plugin: a home holding the sample organisation, wired to a real SCIM directory."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.sample import load_apps_and_policies, load_people_and_groups
from console.service import Service
from console.store import Store


@pytest.fixture
def org_service(tmp_path, scim_directory, monkeypatch) -> Iterator[Service]:
    """Service on a temp home: 300 sample people, their groups, the `bitbucket-cloud` app and its policy."""
    monkeypatch.setenv("IDCONSOLE_DEMO_SCIM_TOKEN", scim_directory.token)
    store = Store.open(tmp_path / "home")
    svc = Service(store, operator="tester")
    load_people_and_groups(svc)
    load_apps_and_policies(svc, {"scim_url": scim_directory.base_url}, only={"bitbucket-cloud"})
    try:
        yield svc
    finally:
        store.close()

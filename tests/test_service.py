"""Service rules that every front end relies on."""
from __future__ import annotations

import pytest

from console.errors import BadInput, ValidationError
from console.models import Application
from console.service import Service
from console.store import Store


@pytest.fixture
def svc(tmp_path):
    store = Store.open(tmp_path)
    yield Service(store, operator="tester")
    store.close()


def test_a_refused_group_rename_leaves_the_stored_group_as_it_was(svc):
    svc.create_group("eng")
    svc.create_group("ops")
    with pytest.raises(ValidationError):
        svc.rename_group("eng", "OPS")
    assert svc.group("eng").name == "eng" and svc.store.groups.by_name("eng") is not None
    svc.store.flush()
    svc.store.rollback()
    assert svc.group("eng").name == "eng"


def test_a_refused_application_setting_leaves_the_stored_application_untouched(svc):
    svc.store.applications.put(Application(name="bb", kind="atlassian", settings={"base_url": "https://x.example"}))
    with pytest.raises(ValidationError):
        svc.set_app("bb", {"threshold_count": "12", "deprovision": "shred"})
    assert svc.app("bb").threshold_count == 10 and svc.app("bb").deprovision == "deactivate"


def test_removals_need_confirmation(svc):
    svc.add_user(employeeId="E1", userName="zoe", givenName="Zoë", familyName="Ångström")
    svc.create_group("eng")
    for call in (lambda: svc.delete_user("zoe"), lambda: svc.delete_group("eng")):
        with pytest.raises(BadInput, match="needs confirmation"):
            call()
    assert svc.user("zoe") and svc.group("eng")

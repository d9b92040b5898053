"""The console's people filter answers exactly what Service.users answers (same people, same order)."""
from __future__ import annotations

import random

from console.service import Service
from console.store import Store
from screens.people_index import PeopleIndex

QUERIES = ["", "a", "smith", "SMITH eng", "john smith", "e1003", "northwind.example", "zoë", "ångström", "ZOË",
           "o'brien", "李", "  sales   manager ", "nobody-here", "e", "an an", "ann ann", "-", "@", "leaver"]


def test_index_matches_service_users_on_the_sample_people(tui_home):
    with Store.open(tui_home, readonly=True) as store:
        svc = Service(store)
        index = PeopleIndex()
        rng = random.Random(3)
        words = sorted({w for u in svc.users() for w in (u.userName.split(".") + [u.department, u.title])})
        queries = QUERIES + [" ".join(rng.sample(words, rng.randint(1, 2)))[: rng.randint(2, 12)] for _ in range(200)]
        for text in queries:
            for limit in (1, 5, 201, 1000):
                expected = [u.id for u in svc.users(text, limit=limit)]
                assert [u.id for u in index.search(svc, text, limit, version=0)] == expected, (text, limit)


def test_index_follows_writes_when_the_version_changes(tui_home):
    with Store.open(tui_home) as store:
        svc = Service(store)
        index = PeopleIndex()
        assert index.search(svc, "ada lovelace", 10, version=0) == []
        svc.add_user(employeeId="E55555", userName="ada.lovelace", givenName="Ada", familyName="Lovelace")
        assert [u.userName for u in index.search(svc, "ada lovelace", 10, version=1)] == ["ada.lovelace"]
        svc.edit_user("ada.lovelace", department="Analytical Engines")
        assert [u.userName for u in index.search(svc, "analytical", 10, version=2)] == ["ada.lovelace"]
        svc.delete_user("ada.lovelace", confirm=True)
        assert index.search(svc, "ada lovelace", 10, version=3) == []

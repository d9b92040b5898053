"""Finding people (`Service.users`, which the console's filters use too) answers exactly what a plain scan of every
person's searchable fields answers: same people, same order, and it follows every write."""
from __future__ import annotations

import random

from console.models import User
from console.service import Service
from console.store import Store

QUERIES = ["", "a", "smith", "SMITH eng", "john smith", "e1003", "northwind.example", "zoë", "ångström", "ZOË",
           "o'brien", "李", "  sales   manager ", "nobody-here", "e", "an an", "ann ann", "-", "@", "leaver"]


def scan(people: list[User], text: str, limit: int) -> list[str]:
    """The reference: every word of `text`, any case, in key, userName, display name, department, title, e-mails, given
    or family name."""
    words = text.casefold().split()
    found = []
    for user in people:
        hay = " ".join((user.employeeId, user.userName, user.displayName, user.department, user.title,
                        *user.emails, user.givenName, user.familyName)).casefold()
        if all(w in hay for w in words):
            found.append(user.id)
            if len(found) >= limit:
                break
    return found


def test_search_matches_a_plain_scan_on_the_sample_people(tui_home):
    with Store.open(tui_home, readonly=True) as store:
        svc = Service(store)
        people = list(store.users)
        rng = random.Random(3)
        words = sorted({w for u in people for w in (u.userName.split(".") + [u.department, u.title])})
        queries = QUERIES + [" ".join(rng.sample(words, rng.randint(1, 2)))[: rng.randint(2, 12)] for _ in range(200)]
        for text in queries:
            for limit in (1, 5, 201, 1000):
                assert [u.id for u in svc.users(text, limit=limit)] == scan(people, text, limit), (text, limit)


def test_search_follows_every_write(tui_home):
    with Store.open(tui_home) as store:
        svc = Service(store)
        assert svc.users("ada lovelace") == []
        svc.add_user(employeeId="E55555", userName="ada.lovelace", givenName="Ada", familyName="Lovelace")
        assert [u.userName for u in svc.users("ada lovelace")] == ["ada.lovelace"]
        svc.edit_user("ada.lovelace", department="Analytical Engines")
        assert [u.userName for u in svc.users("analytical")] == ["ada.lovelace"]
        svc.delete_user("ada.lovelace", confirm=True)
        assert svc.users("ada lovelace") == []


def test_given_and_family_names_are_searched_through_the_state_index_too(tmp_path):
    """A display name that is not "given family" (Bob for Robert): the given and family names are searched as well,
    from the stored search lines when the store is opened through the state's index."""
    with Store.open(tmp_path) as store:
        Service(store).add_user(employeeId="E1", userName="rsmith", givenName="Robert", familyName="Smíth",
                                displayName="Bob S.")
    with Store.open(tmp_path, readonly=True) as store:
        assert store.partial
        assert [u.userName for u in Service(store).users("robert SMÍTH")] == ["rsmith"]
        assert Service(store).users("roberta") == []

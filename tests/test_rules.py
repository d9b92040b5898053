"""The rule language of rule groups: property-style tests over generated good and bad rules, and rule groups
through the service (recomputed when people change, refused manual edits, named in the plan's reasons)."""
from __future__ import annotations

import random

import pytest

from console.errors import BadInput
from console.models import User
from console.rules import compile_rule, tokenize

PEOPLE = [
    User(employeeId=f"E{i}", userName=f"user{i}", givenName=g, familyName=f, department=d, title=t, status=s,
         source=src, attributes={"role": r})
    for i, (g, f, d, t, s, src, r) in enumerate([
        ("Ana", "Ortiz", "Engineering", "Senior Engineer", "active", "bitbucket:bb-members", "owner"),
        ("Bo", "Li", "IT", "Engineer", "active", "file:hr.csv", "member"),
        ("Cem", "Kaya", "Sales", "Senior Seller", "leaver", "bitbucket:bb-members", "collaborator"),
        ("Dov", "Ben", "Engineering", "Intern", "active", "local", ""),
        ("李", "小龙", "IT", "Senior Admin", "leaver", "bitbucket:bb-members", "member"),
    ])
]
FIELDS = {"department": ["Engineering", "IT", "Sales"], "status": ["active", "leaver"], "role": ["owner", "member", "collaborator"],
          "source": ["bb-members", "hr.csv", "local"], "title": ["Senior", "Engineer", "Intern"]}


def value_of(user: User, name: str) -> list[str]:
    if name == "source":
        return [user.source.split(":", 1)[-1]]
    if name in ("role",):
        return [user.attributes.get(name, "")]
    return [getattr(user, name)]


def generate(rng: random.Random, depth: int = 0) -> tuple[str, object]:
    """A random rule and an independent reference predicate for it."""
    choice = rng.random()
    if depth < 3 and choice < 0.3:
        (left, lf), (right, rf) = generate(rng, depth + 1), generate(rng, depth + 1)
        word = rng.choice(["and", "or", "AND", "Or"])
        if word.lower() == "and":
            return f"({left}) {word} ({right})", lambda u: lf(u) and rf(u)
        return f"({left}) {word} ({right})", lambda u: lf(u) or rf(u)
    if depth < 3 and choice < 0.4:
        inner, f = generate(rng, depth + 1)
        return f"not ({inner})", lambda u: not f(u)
    name = rng.choice(sorted(FIELDS))
    value = rng.choice(FIELDS[name])
    op = rng.choice(["==", "!=", "in", "not in", "startswith", "contains"])
    quote = rng.choice(['"', "'"])
    text = value.upper() if rng.random() < 0.2 else value  # comparisons ignore case
    if op in ("in", "not in"):
        values = sorted({value, rng.choice(FIELDS[name])})
        listed = ", ".join(f"{quote}{v}{quote}" for v in values)
        inside = {v.casefold() for v in values}
        if op == "in":
            return f"{name} in [{listed}]", lambda u: any(v.casefold() in inside for v in value_of(u, name))
        return f"{name} not in [{listed}]", lambda u: not any(v.casefold() in inside for v in value_of(u, name))
    rule = f"{name} {op} {quote}{text}{quote}"
    low = value.casefold()
    tests = {"==": lambda v: v.casefold() == low, "!=": lambda v: v.casefold() != low,
             "startswith": lambda v: v.casefold().startswith(low), "contains": lambda v: low in v.casefold()}
    return rule, lambda u: all(tests[op](v) for v in value_of(u, name)) if op == "!=" else \
        any(tests[op](v) for v in value_of(u, name))


def test_generated_rules_match_exactly_the_people_an_independent_evaluation_picks():
    rng = random.Random(13)
    for _ in range(400):
        rule, reference = generate(rng)
        compiled = compile_rule(rule)
        assert [u.userName for u in PEOPLE if compiled.matches(u)] == \
            [u.userName for u in PEOPLE if reference(u)], rule


@pytest.mark.parametrize("rule, names", [
    ('role == "owner"', ["user0"]),
    ('department in ["Engineering", "IT"] and status == "active"', ["user0", "user1", "user3"]),
    ('source == "bb-members"', ["user0", "user2", "user4"]),
    ('title startswith "Senior"', ["user0", "user2", "user4"]),
    ('not (role == "owner" or role == "member")', ["user2", "user3"]),
    ("givenName == '李'", ["user4"]),
    ('attributes.role endswith "tor"', ["user2"]),
    ('unknownAttribute == ""', ["user0", "user1", "user2", "user3", "user4"]),
])
def test_the_documented_examples(rule, names):
    compiled = compile_rule(rule)
    assert [u.userName for u in PEOPLE if compiled.matches(u)] == names


@pytest.mark.parametrize("rule, position, words", [
    ('role = "owner"', 6, "unexpected character '='"),
    ('role == owner', 9, 'a value is written in quotes: "owner"'),
    ('role == "owner', 9, "never closed"),
    ('(role == "owner"', 17, "expected ')' to close the '(' at position 1"),
    ('role == "owner")', 16, "expected and, or or the end"),
    ('role == "owner" and', 20, "expected a field name"),
    ('department in "IT"', 12, "in needs a list"),
    ('department == ["IT"]', 12, "compares with one value"),
    ('department in ["IT" "Eng"]', 21, "expected ',' or ']'"),
    ('role owner', 6, "expected an operator"),
    ('', 1, "the rule is empty"),
    ('and role == "x"', 1, "expected a field name"),
])
def test_a_mistake_is_reported_at_its_position_with_a_caret(rule, position, words):
    with pytest.raises(BadInput) as caught:
        compile_rule(rule)
    error = caught.value
    assert f"at position {position}" in error.title and words in error.title
    line, caret = error.detail.split("\n")
    assert line == rule and caret.index("^") - 2 == position - 1


def test_any_garbage_inserted_into_a_good_rule_is_refused_where_it_was_put():
    rng = random.Random(7)
    for _ in range(300):
        rule, _ = generate(rng)
        tokens = [t for t in tokenize(rule) if t.kind != "end"]
        cut = rng.choice(tokens).pos
        bad = rule[:cut] + rng.choice("=@#$%&;{}<>|~`") + " " + rule[cut:]
        with pytest.raises(BadInput) as caught:
            compile_rule(bad)
        assert f"at position {cut + 1}" in caught.value.title, (bad, caught.value.title)


def test_rules_are_parsed_never_evaluated_and_deep_nesting_is_refused():
    for hostile in ('__import__("os").system("x") == "1"', 'role == "a" + "b"', "role == f'{x}'"):
        with pytest.raises(BadInput):
            compile_rule(hostile)
    with pytest.raises(BadInput, match="nested more than"):
        compile_rule("(" * 200 + 'role == "x"' + ")" * 200)
    assert compile_rule("not " * 41 + 'role == "x"').matches(PEOPLE[0]) is True  # an odd number of nots


# ---- rule groups through the service ------------------------------------------------------------------------
def service(tmp_path):
    from console.service import Service

    svc = Service.open(tmp_path / "home")
    svc.store.users.put_many([User.from_doc(u.to_doc()) for u in PEOPLE])
    svc.store.flush()
    return svc


def test_a_rule_group_follows_people_as_they_change_and_refuses_manual_members(tmp_path):
    svc = service(tmp_path)
    group = svc.create_group("owners", "workspace owners", rule='role == "owner"')
    assert [u.userName for u in svc.members(group)] == ["user0"]
    svc.edit_user("user1", attributes={"role": "owner"})
    assert [u.userName for u in svc.members(svc.group("owners"))] == ["user0", "user1"]
    svc.add_user(employeeId="E9", userName="new.owner", givenName="N", familyName="O", email="n@example.com")
    with pytest.raises(BadInput, match="owners is a rule group"):
        svc.change_members("owners", ["new.owner"], add=True)
    svc.delete_user("user0", confirm=True)
    assert [u.userName for u in svc.members(svc.group("owners"))] == ["user1"]
    added = svc.store.events.query(action="member_add_local")
    assert sorted(e.person for e in added) == ["user0", "user1"] and all('rule role == "owner"' in e.message for e in added)
    svc.close()


def test_a_rule_is_changed_or_cleared_and_a_bad_rule_changes_nothing(tmp_path):
    svc = service(tmp_path)
    svc.create_group("seniors", rule='title startswith "Senior"')
    assert len(svc.group("seniors").members) == 3
    with pytest.raises(BadInput, match="at position 7"):
        svc.set_group_rule("seniors", 'title ~ "x"')
    assert svc.group("seniors").rule == 'title startswith "Senior"'
    svc.set_group_rule("seniors", 'title startswith "Senior" and status == "active"')
    assert [u.userName for u in svc.members(svc.group("seniors"))] == ["user0"]
    svc.set_group_rule("seniors", None)
    assert svc.group("seniors").rule == "" and len(svc.group("seniors").members) == 1
    svc.change_members("seniors", ["user1"], add=True)  # a manual group again
    with pytest.raises(BadInput):
        svc.create_group("broken", rule="role ==")
    assert svc.store.groups.by_name("broken") is None
    svc.close()


def test_a_groups_rule_change_is_previewed_with_who_joins_and_leaves_and_clearing_keeps_the_members(tmp_path):
    svc = service(tmp_path)
    svc.create_group("seniors", rule='title startswith "Senior"')
    svc.create_group("manual")
    before = svc.store.events.query()
    change = svc.preview_group_rule("seniors", 'title startswith "Senior" and status == "active"')
    assert (change.count, change.joining, change.leaving) == (1, 0, 2) and change.outcome == "0 people join, 2 people leave"
    cleared = svc.preview_group_rule("seniors", "  ")
    assert cleared.rule == "" and cleared.count == 3
    assert "plain group" in cleared.outcome and "3 people stay" in cleared.outcome
    assert svc.preview_group_rule("manual", 'title startswith "Senior"').outcome.startswith("manual becomes a rule group: 3")
    assert svc.store.events.query() == before  # nothing written
    with pytest.raises(BadInput, match="position"):
        svc.edit_group("seniors", new_name="seniors-2027", rule="title ~ 1")
    assert svc.store.groups.by_name("seniors-2027") is None  # a refused rule leaves the name too
    group = svc.edit_group("seniors", new_name="seniors-2027", clear_rule=True)
    assert group.name == "seniors-2027" and group.rule == "" and len(group.members) == 3
    svc.close()


def test_preview_rule_says_who_matches_without_writing(tmp_path):
    svc = service(tmp_path)
    before = svc.store.events.query()
    preview = svc.preview_rule('source == "bb-members"', limit=2)
    assert preview.count == 3 and len(preview.people) == 2 and svc.store.events.query() == before
    svc.close()


async def test_the_plan_reason_names_the_rule_and_policies_use_rule_groups(tmp_path):
    from console.models import Policy
    from tests.test_target_limits import AD as scim_app

    svc = service(tmp_path)
    svc.store.applications.put(scim_app)
    svc.store.flush()
    svc.create_group("owners", rule='role == "owner"')
    svc.store.policies.put(Policy(name="owners get jira", app=scim_app.name, groups=["owners"]))
    svc.store.flush()
    plan = await svc.plan(scim_app.name)
    (create,) = [op for op in plan.operations if op.action == "create"]
    assert create.person == "user0"
    assert create.reason == 'member of owners (rule role == "owner") (policy owners get jira)'
    svc.close()


def test_cli_groups_create_with_a_rule_and_a_mistake_shown_with_a_caret(tmp_path, capsys):
    from console.cli import main

    home = str(tmp_path / "home")
    svc = service(tmp_path)
    svc.close()
    assert main(["groups", "create", "owners", "--rule", 'role == "owner"', "--home", home]) == 0
    assert "with rule role == \"owner\": 1 members" in capsys.readouterr().out
    assert main(["groups", "create", "bad", "--rule", 'role == "owner" andd', "--home", home]) == 2
    err = capsys.readouterr().err
    assert "at position 17" in err and 'role == "owner" andd' in err and "^" in err and "Traceback" not in err
    assert main(["groups", "add-member", "owners", "user1", "--home", home]) == 2
    assert "rule group" in capsys.readouterr().err
    assert main(["groups", "preview-rule", 'department == "IT"', "--json", "--home", home]) == 0
    assert '"count": 2' in capsys.readouterr().out.replace(": ", ": ")

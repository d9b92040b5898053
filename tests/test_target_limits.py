"""Per-target attribute limits declared by each connector: the mapping preview and the plan show what a target
would refuse (a 50-character account id in AD's 16-character employeeID) before anything is written."""
from __future__ import annotations

from console.connectors.attribute_limits import AD_LIMITS, GRAPH_LIMITS, check_attributes
from console.inbound.run import preview
from console.mapping import Mapping
from console.models import Application, Group, Policy, User
from console.service import Service

LONG_ID = "557058:" + "0123456789abcdef" * 2 + "-0123456789"  # 50 characters, like a real account_id

AD = Application(name="corp-ad", kind="ad", settings={"url": "ldaps://dc.invalid:636", "bind_user": "idc",
                                                     "base_dn": "DC=corp,DC=example", "users_ou": "OU=Users,DC=corp,DC=example",
                                                     "upn_suffix": "corp.example"},
                 secrets={"password": "env:IDC_NOT_SET"})


def test_each_connector_declares_its_limits_and_names_the_rule():
    assert AD_LIMITS["employeeID"].max_length == 16 and GRAPH_LIMITS["employeeId"].max_length == 16
    (problem,) = check_attributes("corp-ad", AD_LIMITS, {"employeeID": LONG_ID, "sn": "Smith"})
    assert problem.startswith("employeeID = '557058:") and "is 50 characters; corp-ad allows at most 16" in problem
    assert check_attributes("m365", GRAPH_LIMITS, {"employeeId": "E1", "displayName": "A"}) == []
    assert check_attributes("m365", GRAPH_LIMITS, {"displayName": ""}) == ["displayName is required; m365 refuses an empty one"]


async def test_the_preview_marks_an_account_id_mapped_to_employee_id_as_invalid_for_each_target(bb_store, bb_app,
                                                                                               bb_sandbox):
    bb_sandbox.state.members["acme"][0]["user"]["account_id"] = LONG_ID
    bb_store.applications.put(AD)
    bb_store.flush()
    mapping = Mapping("with employee id", "bb", mappings={"userName": "user.nickname", "employeeID": "user.account_id"})
    rows = await preview(bb_store, bb_app, mapping, limit=6)
    issues = [str(i) for r in rows for i in r.issues]
    long_ones = [r for r in rows if len(r.key) > 16]
    assert all(not r.ok for r in long_ones) and long_ones  # never "0 invalid values"
    assert any("corp-ad employeeID" in i and "corp-ad allows at most 16" in i for i in issues)
    default = await preview(bb_store, bb_app, limit=6)  # the default mapping pushes no employee ID at all
    assert not any("employeeID" in str(i) for r in default for i in r.issues)


async def test_the_plan_blocks_a_create_the_target_would_refuse_and_says_why(tmp_path):
    svc = Service.open(tmp_path / "home")
    store = svc.store
    ok = User(employeeId="E1", userName="ok", givenName="O", familyName="K")
    bad = User(employeeId="E2", userName="bad", givenName="B", familyName="D", attributes={"employeeID": LONG_ID})
    store.users.put_many([ok, bad])
    store.groups.put(Group(name="staff", members=[ok.id, bad.id]))
    store.applications.put(AD)
    store.policies.put(Policy(name="all", app="corp-ad", groups=["staff"]))
    store.flush()
    plan = await svc.plan("corp-ad")
    creates = {op.person: op for op in plan.operations if op.action == "create"}
    assert creates["ok"].blocked == ""
    assert creates["bad"].blocked.startswith("corp-ad would refuse: employeeID = '557058:")
    assert "at most 16 (AD schema rangeUpper)" in creates["bad"].blocked
    svc.close()


def test_the_control_character_rule_is_unicodes_category_cc_exactly():
    """The limits find control characters with one regular expression: it matches exactly the code points whose
    Unicode category is Cc (no more, no fewer), and a value holding one is refused whatever else it holds."""
    import sys
    import unicodedata

    from console.connectors.attribute_limits import CONTROL

    for point in range(sys.maxunicode + 1):
        char = chr(point)
        assert bool(CONTROL.search(char)) == (unicodedata.category(char) == "Cc"), hex(point)
    for value in ("zoé\u0085", "\x7fzoe", "z\u009fo", "tab\there"):
        assert check_attributes("AD", AD_LIMITS, {"givenName": value}) == [
            f"givenName = {value!r} contains control characters; AD allows at most 64 (AD schema rangeUpper)"]
    assert check_attributes("AD", AD_LIMITS, {"givenName": "Zoé\u00a0Ñ\u200b"}) == []

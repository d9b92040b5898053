"""The Atlassian peer answers as Atlassian documents, and the connector and the plan follow those rules."""
from __future__ import annotations

import pytest

from console.connectors.atlassian import AtlassianConnector
from console.errors import Rejected
from console.models import Application, User
from console.reports import ReportFilter
from console.service import Confirmation

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
APP = "bitbucket-cloud"


def person(email: str = "ada@corp.example", employee_id: str = "E100") -> User:
    return User(employeeId=employee_id, userName=email.split("@")[0] or "ada", givenName="Ada", familyName="Lovelace",
                emails=[email] if email else [])


def user_body(user_name: str, email: str | None) -> dict:
    body: dict = {"schemas": [USER], "userName": user_name}
    if email:
        body["emails"] = [{"value": email, "type": "work", "primary": True}]
    return body


# ---- the peer ------------------------------------------------------------------------------------
def test_a_peer_that_cannot_start_says_why_with_its_log(tmp_path, monkeypatch) -> None:
    """The server picks its own port (nothing probed and lost to another process); one that exits is reported
    with the end of its log, not a bare 'did not start'."""
    import subprocess

    from console.sandbox.scim_directory import ScimDirectoryServer

    popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda command, **kw: popen([*command, "--no-such-option"], **kw))
    server = ScimDirectoryServer("token", tenants=1, log_dir=tmp_path)
    with pytest.raises(RuntimeError) as raised:
        server.start(timeout=30)
    assert "exited (code 2)" in str(raised.value) and "unrecognized arguments: --no-such-option" in str(raised.value)
    assert server.process is None


def test_the_peer_binds_a_port_of_its_own_choosing(scim_server) -> None:
    assert scim_server.port > 0 and str(scim_server.port) in scim_server.log_path.read_text(encoding="utf-8")


def test_patch_answers_200_with_the_resource(scim_directory) -> None:
    with scim_directory.client() as client:
        uid = client.post("/Users", json=user_body("ada@corp.example", "ada@corp.example")).json()["id"]
        answer = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": False}]})
    assert answer.status_code == 200 and answer.json()["id"] == uid and answer.json()["active"] is False


def test_the_directory_requires_an_email_on_a_verified_domain_on_create_and_modify(scim_directory) -> None:
    with scim_directory.client() as client:
        missing = client.post("/Users", json=user_body("ada@corp.example", None))
        outside = client.post("/Users", json=user_body("ada@gmail.com", "ada@gmail.com"))
        uid = client.post("/Users", json=user_body("ada@corp.example", "ada@corp.example")).json()["id"]
        removed = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": "emails"}]})
    for answer in (missing, outside, removed):
        assert answer.status_code == 400 and answer.json()["scimType"] == "invalidValue"
    assert scim_directory.users()[0]["emails"][0]["value"] == "ada@corp.example"


def test_verified_domains_are_a_setting_of_the_peer(scim_server, scim_directory) -> None:
    scim_server.set_verified_domains(scim_directory.directory_id, ["gmail.com"])
    with scim_directory.client() as client:
        assert client.post("/Users", json=user_body("ada@gmail.com", "ada@gmail.com")).status_code == 201
        assert client.post("/Users", json=user_body("bo@corp.example", "bo@corp.example")).status_code == 400


def test_user_name_email_and_group_name_are_unique_with_atlassians_409(scim_directory) -> None:
    with scim_directory.client() as client:
        client.post("/Users", json=user_body("ada@corp.example", "ada@corp.example"))
        same_name = client.post("/Users", json=user_body("ada@corp.example", "other@corp.example"))
        same_email = client.post("/Users", json=user_body("other@corp.example", "ADA@corp.example"))
        client.post("/Groups", json={"schemas": [GROUP], "displayName": "engineering"})
        same_group = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Engineering"})
    for answer in (same_name, same_email, same_group):
        body = answer.json()
        assert answer.status_code == 409
        assert body["status"] == "409" and body["scimType"] == "uniqueness"  # status is a string in ScimError
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "email[ada@corp.example]" in same_email.json()["detail"]


def test_a_deleted_user_is_gone_with_its_memberships(scim_directory) -> None:
    with scim_directory.client() as client:
        uid = client.post("/Users", json=user_body("ada@corp.example", "ada@corp.example")).json()["id"]
        gid = client.post("/Groups", json={"schemas": [GROUP], "displayName": "engineering"}).json()["id"]
        client.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid}]}]})
        assert client.delete(f"/Users/{uid}").status_code == 204
        assert client.get(f"/Users/{uid}").status_code == 404
        assert client.delete(f"/Users/{uid}").status_code == 404
        assert not client.get(f"/Groups/{gid}").json().get("members")


def test_a_wrong_key_gets_atlassians_failure_shape(scim_directory) -> None:
    import httpx

    answer = httpx.get(f"{scim_directory.base_url}/Users", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and set(answer.json()) == {"error", "traceId"}


# ---- the connector -------------------------------------------------------------------------------
async def test_a_person_without_email_is_never_posted(atlassian_app: Application, scim_faults, scim_directory) -> None:
    spy = scim_faults()
    connector = AtlassianConnector(atlassian_app, transport=spy)
    try:
        with pytest.raises(Rejected, match="would refuse") as refused:
            await connector.create_user(connector.account_attributes(person(email=""), "sso"))
        with pytest.raises(Rejected, match="e-mail"):
            await connector.update_user("some-id", {"emails": []})
    finally:
        await connector.aclose()
    assert "emails is required" in (refused.value.detail or "")
    assert spy.requests == [] and scim_directory.users() == []


async def test_an_email_outside_the_verified_domains_is_refused_before_sending(atlassian_app: Application) -> None:
    atlassian_app.settings["verified_domains"] = ["corp.example"]
    connector = AtlassianConnector(atlassian_app)
    try:
        assert connector.value_limits().reason({"userName": "a@gmail.com", "emails": ["a@gmail.com"]}).startswith(
            "Atlassian would refuse it: emails must be on a verified domain (corp.example)")
        with pytest.raises(Rejected):
            await connector.create_user(connector.account_attributes(person("ada@gmail.com"), "sso"))
    finally:
        await connector.aclose()


async def test_deactivation_reads_the_patch_answer_end_to_end(atlassian: AtlassianConnector, scim_directory) -> None:
    account = await atlassian.create_user(atlassian.account_attributes(person(), "sso"))
    seen: list[tuple[int, dict]] = []

    async def record(response) -> None:
        await response.aread()
        if response.request.method == "PATCH":
            seen.append((response.status_code, response.json()))

    atlassian.http.client.event_hooks["response"].append(record)
    assert await atlassian.deactivate_user(account.uid) == {}
    assert seen and seen[0][0] == 200 and seen[0][1]["active"] is False  # the ACCESS-1388 check had a body


async def test_an_email_held_by_another_account_is_rejected_not_adopted(atlassian: AtlassianConnector,
                                                                        scim_directory) -> None:
    with scim_directory.client() as client:
        client.post("/Users", json=user_body("someone-else@corp.example", "ada@corp.example"))
    with pytest.raises(Rejected, match="duplicate"):
        await atlassian.create_user(atlassian.account_attributes(person(), "sso"))


# ---- the plan ------------------------------------------------------------------------------------
def _entitled(svc) -> list[User]:
    return svc.in_scope(svc.policy("bitbucket-engineering"))


async def test_plan_blocks_a_person_atlassian_would_refuse_and_sends_nothing_for_them(org_service, scim_directory):
    svc = org_service
    no_email, outside, fine = _entitled(svc)[:3]
    svc.edit_user(no_email.userName, email="")
    svc.edit_user(outside.userName, email=f"{outside.userName}@gmail.com")
    svc.set_app(APP, {"verified_domains": "northwind.example"})
    plan = await svc.plan(APP)
    blocked = {op.person_id: op.blocked for op in plan.operations if op.action == "create" and op.blocked}
    assert set(blocked) == {no_email.id, outside.id}
    assert "emails is required" in blocked[no_email.id]
    assert "verified domain (northwind.example)" in blocked[outside.id]
    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.ok, result.failures
    names = {u["userName"] for u in scim_directory.users()}
    assert fine.email in names and f"{outside.userName}@gmail.com" not in names
    skipped = svc.report(ReportFilter(app=APP, action="create", run=result.run_id, status="skipped"))
    assert {e.person_id for e in skipped} == {no_email.id, outside.id}


async def test_removing_the_last_email_blocks_the_update_instead_of_patching(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    person_ = _entitled(svc)[0]
    svc.edit_user(person_.userName, email="")
    (update,) = [op for op in (await svc.plan(APP)).operations if op.person_id == person_.id]
    assert update.action == "update" and "emails is required" in update.blocked


# ---- the other targets' declared limits ----------------------------------------------------------
def test_ad_and_graph_declare_what_they_would_refuse() -> None:
    from console.connectors.ad.config import VALUE_LIMITS as AD
    from console.connectors.graph.attrs import VALUE_LIMITS as GRAPH

    too_long = "557058:" + "f" * 40  # a Bitbucket account_id pushed into employeeID
    assert "employeeID holds at most 16 characters (AD schema rangeUpper)" in AD.reason(
        {"sAMAccountName": "ada", "cn": "Ada", "employeeID": too_long})
    assert AD.reason({"sAMAccountName": "ada", "cn": "Ada", "employeeID": "E100"}) == ""
    assert "employeeId holds at most 16" in GRAPH.reason(
        {"userPrincipalName": "a@x.example", "displayName": "A", "mailNickname": "a", "employeeId": too_long})
    assert "usageLocation" in GRAPH.reason(
        {"userPrincipalName": "a@x.example", "displayName": "A", "mailNickname": "a", "usageLocation": "IRL"})

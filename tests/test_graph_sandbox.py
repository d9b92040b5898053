"""The Graph sandbox behaves like Microsoft Graph and every answer deserializes through msgraph-sdk's models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.directory_object import DirectoryObject
from msgraph.generated.models.directory_object_collection_response import DirectoryObjectCollectionResponse
from msgraph.generated.models.group import Group
from msgraph.generated.models.group_collection_response import GroupCollectionResponse
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscribed_sku_collection_response import SubscribedSkuCollectionResponse
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.item.revoke_sign_in_sessions.revoke_sign_in_sessions_post_response import (
    RevokeSignInSessionsPostResponse,
)

from console.sandbox.graph import SANDBOX_CLIENT_ID, SANDBOX_TENANT_ID
from console.sandbox.graph_schema import DEFAULT_SKUS

E3 = DEFAULT_SKUS[0]["skuId"]
PASSWORD = "Xk7!pQ2#wLm9"


def parse(response: httpx.Response, model: type[Parsable]) -> Any:
    """Deserialize like the SDK does, and insist that every property is one the model knows (no leftovers)."""
    node = JsonParseNodeFactory().get_root_parse_node("application/json", response.content)
    obj = node.get_object_value(model)  # type: ignore[arg-type]
    _assert_known(obj, response.text)
    return obj


def _assert_known(obj: Any, text: str) -> None:
    """Walk the parsed model: no object, however nested, may hold properties its model does not declare."""
    if isinstance(obj, list):
        for item in obj:
            _assert_known(item, text)
        return
    if not isinstance(obj, Parsable):
        return
    extra = {k for k in getattr(obj, "additional_data", {}) or {} if not k.startswith("@odata.")}
    assert not extra, f"{type(obj).__name__} does not know {extra} in {text[:300]}"
    for name, value in vars(obj).items():
        if name not in ("additional_data", "backing_store"):
            _assert_known(value, text)


def new_user(sandbox: Any, upn: str, **extra: Any) -> dict[str, Any]:
    body = {"@odata.type": "#microsoft.graph.user", "accountEnabled": True, "displayName": upn.split("@")[0],
            "mailNickname": upn.split("@")[0], "userPrincipalName": upn,
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": True}, **extra}
    response = sandbox.graph("POST", "/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_every_response_shape_deserializes_into_msgraph_models(graph_sandbox: Any) -> None:
    g = graph_sandbox.graph
    created = g("POST", "/users", json={"accountEnabled": True, "displayName": "Zoë Ünal", "mailNickname": "zoe",
                                         "userPrincipalName": "zoe@contoso.com", "usageLocation": "DE",
                                         "passwordProfile": {"password": PASSWORD}})
    user = parse(created, User)
    assert created.status_code == 201 and user.display_name == "Zoë Ünal"
    uid = user.id
    parse(g("GET", f"/users/{uid}"), User)
    select = ("id,accountEnabled,assignedLicenses,createdDateTime,employeeId,usageLocation,proxyAddresses,"
              "deletedDateTime,signInSessionsValidFromDateTime,passwordProfile")
    full = parse(g("GET", f"/users/{uid}", params={"$select": select}), User)
    assert full.account_enabled is True and full.usage_location == "DE"
    licensed = parse(g("POST", f"/users/{uid}/assignLicense", json={"addLicenses": [{"skuId": E3}],
                                                                     "removeLicenses": []}), User)
    assert licensed.id == uid
    revoked = parse(g("POST", f"/users/{uid}/revokeSignInSessions"), RevokeSignInSessionsPostResponse)
    assert revoked.value is True
    listed = parse(g("GET", "/users", params={"$top": "1", "$count": "true"}, headers={"ConsistencyLevel": "eventual"}),
                   UserCollectionResponse)
    assert listed.odata_count == 1 and len(listed.value) == 1
    skus = parse(g("GET", "/subscribedSkus"), SubscribedSkuCollectionResponse)
    assert {str(s.sku_id) for s in skus.value} >= {E3} and skus.value[0].service_plans[0].service_plan_name
    group = parse(g("POST", "/groups", json={"displayName": "Sales", "mailEnabled": False, "mailNickname": "sales",
                                             "securityEnabled": True, "groupTypes": []}), Group)
    parse(g("GET", f"/groups/{group.id}"), Group)
    assert g("POST", f"/groups/{group.id}/members/$ref",
             json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}"}).status_code == 204
    members = parse(g("GET", f"/groups/{group.id}/members"), DirectoryObjectCollectionResponse)
    assert isinstance(members.value[0], User) and members.value[0].id == uid
    parse(g("GET", "/groups"), GroupCollectionResponse)
    assert g("DELETE", f"/users/{uid}").status_code == 204
    deleted = parse(g("GET", "/directory/deletedItems/microsoft.graph.user",
                      params={"$select": "id,userPrincipalName,deletedDateTime"}), UserCollectionResponse)
    assert deleted.value[0].id == uid and deleted.value[0].deleted_date_time is not None
    restored = parse(g("POST", f"/directory/deletedItems/{uid}/restore"), DirectoryObject)
    assert isinstance(restored, User) and restored.user_principal_name == "zoe@contoso.com"
    for response in (g("GET", "/users/nobody"), g("POST", "/users", json={"displayName": "x"}),
                     graph_sandbox.http.get("/v1.0/users")):
        error = parse(response, ODataError)
        assert error.error.code and error.error.message and error.error.inner_error.request_id
        assert error.error.inner_error.date is not None


def test_token_endpoint_answers_like_entra_id(graph_sandbox: Any) -> None:
    def token(**form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": "wrong",
                "scope": "https://graph.microsoft.com/.default", **form}
        return graph_sandbox.http.post(f"/{form.pop('tenant', SANDBOX_TENANT_ID)}/oauth2/v2.0/token", data=data)

    wrong = token()
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert wrong.json()["error_codes"] == [7000215]
    assert "AADSTS700016" in token(client_id="00000000-0000-0000-0000-000000000000").json()["error_description"]
    assert "AADSTS90002" in token(tenant="nope.example").json()["error_description"]
    unauthenticated = graph_sandbox.http.get("/v1.0/users", headers={"Authorization": "Bearer forged"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_queries_filter_select_top_count_like_graph(graph_sandbox: Any) -> None:
    g = graph_sandbox.graph
    new_user(graph_sandbox, "ann.o'neil@contoso.com", mail="ann.o'neil@contoso.com", employeeId="E100")
    new_user(graph_sandbox, "bob@contoso.com", displayName="Bob Builder")

    def values(params: dict[str, str], **headers: str) -> list[str]:
        response = g("GET", "/users", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [u["userPrincipalName"] for u in response.json()["value"]]

    assert values({"$filter": "userPrincipalName eq 'ANN.O''NEIL@contoso.com'"}) == ["ann.o'neil@contoso.com"]
    either = "mail eq 'ann.o''neil@contoso.com' or employeeId eq 'nope'"
    assert values({"$filter": either}) == ["ann.o'neil@contoso.com"]
    assert values({"$filter": "startswith(displayName,'bob b')"}) == ["bob@contoso.com"]
    assert values({"$filter": "employeeId in ('E100', 'E200')"}) == ["ann.o'neil@contoso.com"]
    selected = g("GET", "/users", params={"$select": "id,displayName"}).json()["value"][0]
    assert set(selected) == {"id", "displayName"}
    advanced = g("GET", "/users", params={"$filter": "endswith(userPrincipalName,'@contoso.com')"})
    assert advanced.status_code == 400 and "ConsistencyLevel:eventual" in advanced.json()["error"]["message"]
    assert values({"$filter": "endswith(userPrincipalName,'@contoso.com')", "$count": "true"},
                  ConsistencyLevel="eventual") == ["ann.o'neil@contoso.com", "bob@contoso.com"]
    assert g("GET", "/users", params={"$count": "true"}).status_code == 400
    too_big = g("GET", "/users", params={"$top": "1000"})
    assert too_big.status_code == 400 and "between 1 and 999" in too_big.json()["error"]["message"]
    assert g("GET", "/users", params={"$select": "nope"}).json()["error"]["message"].startswith(
        "Could not find a property named 'nope'")
    assert g("GET", "/users", params={"$filter": "city2 eq 'x'"}).json()["error"]["code"] == "Request_UnsupportedQuery"
    # The SDK's default base URL ends with '/': Graph (and the sandbox) collapse the '//'.
    assert graph_sandbox.http.get("/v1.0//users", headers={"Authorization": f"Bearer {graph_sandbox.token()}"}
                                  ).status_code == 200


def test_paging_follows_skiptoken_links_with_count_only_first(graph_sandbox: Any) -> None:
    graph_sandbox.reset([{"userPrincipalName": f"u{i:03}@contoso.com", "displayName": f"U {i}"} for i in range(250)])
    headers = {"ConsistencyLevel": "eventual"}
    page = graph_sandbox.graph("GET", "/users", params={"$count": "true"}, headers=headers).json()
    seen, pages = [u["id"] for u in page["value"]], 1
    assert page["@odata.count"] == 250 and len(page["value"]) == 100
    while "@odata.nextLink" in page:
        link = page["@odata.nextLink"]
        assert "$skiptoken=" in link and link.startswith(graph_sandbox.graph_url)
        page = graph_sandbox.http.get(link, headers={**headers, "Authorization": f"Bearer {graph_sandbox.token()}"}
                                      ).json()
        assert "@odata.count" not in page
        seen += [u["id"] for u in page["value"]]
        pages += 1
    assert pages == 3 and len(set(seen)) == 250


def test_conflicts_licences_and_membership_messages_are_graphs_own(graph_sandbox: Any) -> None:
    g = graph_sandbox.graph
    uid = new_user(graph_sandbox, "cara@contoso.com")["id"]
    duplicate = g("POST", "/users", json={"accountEnabled": True, "displayName": "C", "mailNickname": "c2",
                                          "userPrincipalName": "Cara@contoso.com",
                                          "passwordProfile": {"password": PASSWORD}})
    assert duplicate.status_code == 400
    assert duplicate.json()["error"] == {**duplicate.json()["error"], "code": "Request_BadRequest",
                                         "message": "Another object with the same value for property "
                                                    "userPrincipalName already exists."}
    no_location = g("POST", f"/users/{uid}/assignLicense", json={"addLicenses": [{"skuId": E3}], "removeLicenses": []})
    assert no_location.status_code == 400
    assert no_location.json()["error"]["message"] == ("License assignment cannot be done for user with invalid usage "
                                                      "location.")
    weak = g("POST", "/users", json={"accountEnabled": True, "displayName": "D", "mailNickname": "d",
                                     "userPrincipalName": "d@contoso.com", "passwordProfile": {"password": "password"}})
    assert "password complexity" in weak.json()["error"]["message"]
    foreign = g("POST", "/users", json={"accountEnabled": True, "displayName": "E", "mailNickname": "e",
                                        "userPrincipalName": "e@gmail.com", "passwordProfile": {"password": PASSWORD}})
    assert "verified domain" in foreign.json()["error"]["message"]
    gid = g("POST", "/groups", json={"displayName": "G", "mailEnabled": False, "mailNickname": "g",
                                     "securityEnabled": True}).json()["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}"}
    assert g("POST", f"/groups/{gid}/members/$ref", json=ref).status_code == 204
    again = g("POST", f"/groups/{gid}/members/$ref", json=ref)
    assert again.status_code == 400 and "added object references already exist" in again.json()["error"]["message"]
    assert g("DELETE", f"/groups/{gid}/members/{uid}/$ref").status_code == 204
    gone = g("DELETE", f"/groups/{gid}/members/{uid}/$ref")
    assert gone.status_code == 400 and "removed object references do not exist" in gone.json()["error"]["message"]
    mail_enabled = g("POST", "/groups", json={"displayName": "M", "mailEnabled": True, "mailNickname": "m",
                                              "securityEnabled": True})
    assert "mail-enabled groups" in mail_enabled.json()["error"]["message"]


def test_deleted_user_is_restorable_and_its_upn_can_be_reused(graph_sandbox: Any) -> None:
    """Entra ID puts the object id in front of a soft-deleted user's UPN, so a new user may take the original;
    restoring the old one by id then conflicts, unless it is given a new UPN."""
    g = graph_sandbox.graph
    old = new_user(graph_sandbox, "dana@contoso.com")["id"]
    assert g("DELETE", f"/users/{old}").status_code == 204
    assert g("GET", f"/users/{old}").status_code == 404
    rewritten = old.replace("-", "") + "dana@contoso.com"
    plain = g("GET", "/directory/deletedItems/graph.user", params={"$filter": "userPrincipalName eq 'dana@contoso.com'"})
    assert plain.json()["value"] == []  # the plain UPN finds nothing once rewritten
    listed = g("GET", "/directory/deletedItems/graph.user", params={"$filter": f"userPrincipalName eq '{rewritten}'"})
    assert [u["id"] for u in listed.json()["value"]] == [old]
    new = new_user(graph_sandbox, "dana@contoso.com")["id"]  # collides with nothing
    conflict = g("POST", f"/directory/deletedItems/{old}/restore")
    assert conflict.status_code == 400 and "userPrincipalName already exists" in conflict.json()["error"]["message"]
    renamed = g("POST", f"/directory/deletedItems/{old}/restore", json={"newUserPrincipalName": "dana.old@contoso.com"})
    assert renamed.status_code == 200 and renamed.json()["userPrincipalName"] == "dana.old@contoso.com"
    assert g("DELETE", f"/users/{new}").status_code == 204
    assert g("POST", f"/directory/deletedItems/{new}/restore").status_code == 200
    assert g("GET", f"/users/{new}").json()["userPrincipalName"] == "dana@contoso.com"


def test_switches_inject_throttling_lag_and_empty_pages(graph_sandbox: Any) -> None:
    g = graph_sandbox.graph
    graph_sandbox.fault(status=429, count=1, retry_after=7, method="GET", path="/users")
    throttled = g("GET", "/users")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert g("GET", "/users").status_code == 200
    graph_sandbox.settings(consistency_lag=1, empty_pages=1)
    uid = new_user(graph_sandbox, "eve@contoso.com")["id"]
    assert g("GET", f"/users/{uid}").status_code == 404  # not replicated yet
    assert g("GET", f"/users/{uid}").status_code == 200
    empty = g("GET", "/users").json()
    assert empty["value"] == [] and "@odata.nextLink" in empty
    follow = graph_sandbox.http.get(empty["@odata.nextLink"],
                                    headers={"Authorization": f"Bearer {graph_sandbox.token()}"})
    assert [u["id"] for u in follow.json()["value"]] == [uid]


def test_command_line_serves_a_data_file(tmp_path: Path) -> None:
    data = tmp_path / "users.json"
    data.write_text(json.dumps([{"userPrincipalName": "fred@fabrikam.com", "displayName": "Fred Ørsted",
                                 "accountEnabled": True}]), encoding="utf-8")
    env = {**os.environ, "GRAPH_SANDBOX_SECRET": "cli-graph-secret"}
    process = subprocess.Popen([sys.executable, "-m", "console.sandbox", "graph", "--port", "0", "--data", str(data)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1], env=env)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.split()[2].removesuffix("/v1.0")
        token = httpx.post(f"{url}/{SANDBOX_TENANT_ID}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
            "client_secret": "cli-graph-secret",
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        users = httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {token}"}).json()["value"]
        assert [u["displayName"] for u in users] == ["Fred Ørsted"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    usage = subprocess.run([sys.executable, "-m", "console.sandbox"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1])
    assert usage.returncode == 2 and "graph" in usage.stderr

"""The Bitbucket sandbox answers like Bitbucket Cloud: checked against the official spec subset."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from console.sandbox.bitbucket import BitbucketState, start_in_thread

ROOT = Path(__file__).resolve().parents[1]


def token(sandbox, client_id="idc-test-consumer", secret="s3cret-consumer-value") -> str:
    response = httpx.post(sandbox.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_every_response_matches_the_spec_subset(bb_sandbox, bb_spec):
    bearer = {"Authorization": "Bearer " + token(bb_sandbox)}
    api = bb_sandbox.base_url
    member = bb_sandbox.state.members["acme"][2]["user"]
    calls = [
        (f"{api}/workspaces/acme/members", {"pagelen": "2"}, bearer, 200),
        (f"{api}/workspaces/acme/members", {"pagelen": "2", "page": "2"}, bearer, 200),
        (f"{api}/workspaces/acme/members", {"pagelen": "100", "page": "9"}, bearer, 200),
        (f"{api}/workspaces/acme/members", {"pagelen": "101"}, bearer, 400),
        (f"{api}/workspaces/acme/permissions", {"pagelen": "4"}, bearer, 200),
        (f"{api}/workspaces/acme/members/{member['account_id']}", {}, bearer, 200),
        (f"{api}/workspaces/acme/members/{member['uuid']}", {}, bearer, 200),
        (f"{api}/workspaces/acme/members/557058:nobody", {}, bearer, 404),
        (f"{api}/workspaces/acme", {}, bearer, 200),
        (f"{api}/workspaces/nowhere", {}, bearer, 404),
        (f"{api}/workspaces/nowhere/members", {}, bearer, 404),
        (f"{api}/users/{member['account_id']}", {}, bearer, 200),
        (f"{api}/users/557058:nobody", {}, bearer, 404),
        (f"{api}/user", {}, bearer, 200),
        (f"{api}/user", {}, {"Authorization": "Bearer not-a-token"}, 401),
        (f"{api}/workspaces/acme/members", {}, {}, 401),
    ]
    for url, params, headers, status in calls:
        response = httpx.get(url, params=params, headers=headers)
        assert response.status_code == status, (url, params, response.text)
        errors = bb_spec.check_response("GET", url, status, response.json())
        assert errors == [], (url, params, errors)
    # an API-token user is a plain `user`
    response = httpx.get(f"{api}/user", auth=("robot@example.com", "atl-api-token-value"))
    assert response.status_code == 200 and response.json()["type"] == "user"
    assert bb_spec.check_response("GET", f"{api}/user", 200, response.json()) == []


def test_spec_checker_catches_a_wrong_body(bb_sandbox, bb_spec):
    bearer = {"Authorization": "Bearer " + token(bb_sandbox)}
    body = httpx.get(f"{bb_sandbox.base_url}/workspaces/acme/members", headers=bearer).json()
    del body["values"][0]["user"]["type"]
    body["values"][1]["user"]["display_name"] = 42
    body["total"] = 6
    body["next"] = "/2.0/relative?page=2"
    errors = bb_spec.check_response("GET", f"{bb_sandbox.base_url}/workspaces/acme/members", 200, body)
    assert any("values[0].user: missing required 'type'" in e for e in errors), errors
    assert any("values[1].user.display_name: expected string" in e for e in errors), errors
    assert any("unexpected property 'total'" in e for e in errors), errors
    assert any("not an absolute URI" in e for e in errors), errors


def test_pagination_envelope_follows_bitbucket(bb_sandbox):
    bearer = {"Authorization": "Bearer " + token(bb_sandbox)}
    url = f"{bb_sandbox.base_url}/workspaces/acme/members"
    first = httpx.get(url, params={"pagelen": 4}, headers=bearer).json()
    assert (first["size"], first["page"], first["pagelen"], len(first["values"])) == (6, 1, 4, 4)
    assert "previous" not in first and first["next"].startswith("http://127.0.0.1:")
    second = httpx.get(first["next"], headers=bearer).json()
    assert second["page"] == 2 and len(second["values"]) == 2 and "next" not in second
    assert second["previous"].startswith("http://")
    default = httpx.get(url, headers=bearer).json()
    assert default["pagelen"] == 10  # Bitbucket's default page length
    assert "email" not in first["values"][0]["user"] and "permission" not in first["values"][0]


def test_repeat_page_switch_reproduces_bcloud_22441(bb_sandbox):
    bb_sandbox.state.repeat_page = 1
    bearer = {"Authorization": "Bearer " + token(bb_sandbox)}
    url = f"{bb_sandbox.base_url}/workspaces/acme/members"
    one = httpx.get(url, params={"pagelen": 3, "page": 1}, headers=bearer).json()
    two = httpx.get(url, params={"pagelen": 3, "page": 2}, headers=bearer).json()
    assert one["values"] == two["values"] and two["page"] == 2 and "next" in two


def test_token_endpoint_refuses_bad_credentials_like_bitbucket(bb_sandbox):
    bad = httpx.post(bb_sandbox.token_url, auth=("idc-test-consumer", "wrong"),
                     data={"grant_type": "client_credentials"})
    assert bad.status_code == 400 and bad.json() == {"error": "unauthorized_client",
                                                     "error_description": "Invalid OAuth client credentials"}
    grant = httpx.post(bb_sandbox.token_url, auth=("idc-test-consumer", "s3cret-consumer-value"),
                       data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    ok = httpx.post(bb_sandbox.token_url, auth=("idc-test-consumer", "s3cret-consumer-value"),
                    data={"grant_type": "client_credentials"}).json()
    assert ok["token_type"] == "bearer" and "refresh_token" not in ok and ok["scope"] == "account"


def test_expired_token_is_refused_with_401(bb_sandbox):
    bearer = {"Authorization": "Bearer " + token(bb_sandbox)}
    url = f"{bb_sandbox.base_url}/user"
    assert httpx.get(url, headers=bearer).status_code == 200
    bb_sandbox.state.expire_tokens_after(1)
    assert httpx.get(url, headers=bearer).status_code == 200
    refused = httpx.get(url, headers=bearer)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "Access token expired."


def test_rate_limit_answers_429_with_retry_after(bb_members):
    state = BitbucketState(bb_members(), clients={"c": "secret-1"}, rate_limit=2, rate_window=30)
    with start_in_thread(state) as sandbox:
        bearer = {"Authorization": "Bearer " + token(sandbox, "c", "secret-1")}
        statuses = [httpx.get(f"{sandbox.base_url}/user", headers=bearer) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert 1 <= int(statuses[2].headers["Retry-After"]) <= 30
        assert statuses[2].json() == {"type": "error",
                                      "error": {"message": "Rate limit for this resource has been exceeded"}}


def test_email_only_with_fields_expansion(bb_members):
    state = BitbucketState(bb_members(people=[("557058:e1", "Eve Adams", "eve")], email="eve@example.com"),
                           clients={"c": "secret-1"})
    with start_in_thread(state) as sandbox:
        bearer = {"Authorization": "Bearer " + token(sandbox, "c", "secret-1")}
        url = f"{sandbox.base_url}/workspaces/acme/members"
        plain = httpx.get(url, headers=bearer).json()["values"][0]["user"]
        expanded = httpx.get(url, params={"fields": "+values.user.email"}, headers=bearer).json()["values"][0]["user"]
        assert "email" not in plain and expanded["email"] == "eve@example.com"


def test_command_line_serves_a_data_file(tmp_path, bb_members):
    data = tmp_path / "members.json"
    data.write_text(json.dumps(bb_members(workspace="northwind")), encoding="utf-8")
    env = {**os.environ, "BITBUCKET_SANDBOX_SECRET": "cli-secret", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "console.sandbox", "bitbucket", "--port", "0", "--data", str(data)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "Bitbucket sandbox: base URL http://127.0.0.1:" in line, line
        base_url = line.split("base URL ")[1].split()[0]
        token_url = line.split("token URL ")[1].split()[0]
        access = httpx.post(token_url, auth=("idconsole-demo", "cli-secret"),
                            data={"grant_type": "client_credentials"}).json()["access_token"]
        body = httpx.get(f"{base_url}/workspaces/northwind/members",
                         headers={"Authorization": f"Bearer {access}"}).json()
        assert body["size"] == 6 and body["values"][0]["workspace"]["slug"] == "northwind"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()

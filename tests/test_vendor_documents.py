"""The check of every connector request and peer answer against the vendors' documents catches a mismatch."""
from __future__ import annotations

import httpx

from tests.plugins.vendor_documents import check_graph


async def test_a_request_the_atlassian_document_refuses_is_reported_with_its_rule(vendor_documents,
                                                                                  scim_directory) -> None:
    headers = {"Authorization": f"Bearer {scim_directory.token}"}
    async with httpx.AsyncClient(base_url=scim_directory.base_url, headers=headers) as client:
        await client.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "ada@corp.example"})
    found, vendor_documents[:] = list(vendor_documents), []
    assert any("POST" in m and "'emails' is a required property" in m for m in found), found


async def test_a_bitbucket_answer_outside_the_document_is_reported(vendor_documents, bb_sandbox) -> None:
    async with httpx.AsyncClient() as client:
        await client.get(bb_sandbox.url.rstrip("/") + "/2.0/not-in-the-subset")
    found, vendor_documents[:] = list(vendor_documents), []
    assert any("not a path of the spec subset" in m for m in found), found


def test_a_graph_error_without_microsofts_shape_is_reported() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/v1.0/users/x")
    bad = httpx.Response(404, json={"message": "nope"}, request=request)
    good = httpx.Response(404, json={"error": {"code": "Request_ResourceNotFound", "message": "gone"}},
                          request=request)
    assert check_graph(request, bad, bad.content) and not check_graph(request, good, good.content)

"""Each connector's `attributes_version` names what its `account_attributes` computes: plans skip people whose
recorded inputs (which include the version) are unchanged, so a change to what is computed must bump the version.

The digests below are of the attributes computed for a fixed set of people and settings. A failure here means
`account_attributes` (or something it calls) now computes other attributes: bump that connector's
ATTRIBUTES_VERSION, so that every person is computed again by the next plan, and update the digest and version
here together."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from console.connectors.ad import config as ad
from console.connectors.atlassian import payloads as atlassian
from console.connectors.graph import attrs as graph
from console.models import Application, User

PEOPLE = [
    User(employeeId="E1", userName="ada", givenName="Ada", familyName="Lovelace", emails=["ada@corp.example"],
         department="Eng", title="Engineer", id="u1"),
    User(employeeId="E2", userName="bob", givenName="Bob", familyName="", displayName="Bobby", status="leaver",
         emails=[" bob@other.example ", "bob@corp.example"], id="u2"),
    User(employeeId="acc-123", userName="carol", source="bitbucket:bb", attributes={"employeeID": "X9"}, id="u3"),
    User(employeeId="E4", userName="dan.o'neil", givenName="Dán", familyName="O'Neil" * 12, id="u4"),
]
AD_SETTINGS = [{"url": "ldap://127.0.0.1", "bind_user": "b", "base_dn": "DC=corp,DC=example",
                "users_ou": "OU=People", "upn_suffix": "corp.example"},
               {"url": "ldap://127.0.0.1", "bind_user": "b", "base_dn": "DC=corp,DC=example",
                "users_ou": "OU=People", "upn_suffix": "corp.example", "mail_domain": "corp.example"}]
GRAPH_SETTINGS = [{}, {"upn_suffix": "corp.example", "usage_location": "de", "license_skus": ["b-sku", "a-sku"]}]


def computed() -> dict[str, list[dict[str, Any]]]:
    fns: dict[str, list[Callable[[User, str], dict[str, Any]]]] = {
        "atlassian": [atlassian.account_attributes],
        "ad": [lambda u, m, s=s: ad.account_attributes(u, ad.parse_config(Application(name="ad", kind="ad", settings=s,
                                                                                    secrets={"password": "env:AD_PW"})))
               for s in AD_SETTINGS],
        "graph": [lambda u, m, s=s: graph.account_attributes(u, m, upn_suffix=s.get("upn_suffix", ""),
                                                             usage_location=s.get("usage_location", ""),
                                                             license_skus=s.get("license_skus"))
                  for s in GRAPH_SETTINGS],
    }
    return {kind: [fn(user, method) for fn in kind_fns for user in PEOPLE for method in ("sso", "password")]
            for kind, kind_fns in fns.items()}


PINNED = {  # kind -> (ATTRIBUTES_VERSION, digest of what it computes for PEOPLE)
    "atlassian": ("1", "fd48234f64d8e74d"),
    "ad": ("1", "e992b611d8e4e1bb"),
    "graph": ("1", "a9ad0f7225710baf"),
}
VERSIONS = {"atlassian": atlassian.ATTRIBUTES_VERSION, "ad": ad.ATTRIBUTES_VERSION, "graph": graph.ATTRIBUTES_VERSION}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_what_account_attributes_computes_is_named_by_its_version(kind):
    digest = hashlib.sha256(orjson.dumps(computed()[kind], option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    version, pinned = PINNED[kind]
    assert (VERSIONS[kind], digest) == (version, pinned), (
        f"{kind}: account_attributes now computes other attributes: bump its ATTRIBUTES_VERSION (plans would "
        f"otherwise skip people whose inputs did not change) and pin ({VERSIONS[kind]!r}, {digest!r}) here")


def test_the_connectors_carry_their_module_version():
    from console.connectors.ad.connector import ADConnector
    from console.connectors.atlassian.connector import AtlassianConnector
    from console.connectors.graph.connector import GraphConnector

    assert (AtlassianConnector.attributes_version, ADConnector.attributes_version,
            GraphConnector.attributes_version) == (VERSIONS["atlassian"], VERSIONS["ad"], VERSIONS["graph"])

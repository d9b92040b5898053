"""Generate the demo organisation "Northwind Analytics" (people, groups, apps, policies, sandbox data).

Deterministic (fixed seed, no clock, no uuid4): re-running writes identical bytes. Standard library only.
Usage: `python sample_data/generate.py [OUT_DIR]` (default: this directory). See README.md here.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

SEED = 20240917
DOMAIN = "northwind.example"
WORKSPACE = "northwind"
FIELDS = ["employeeId", "userName", "givenName", "familyName", "displayName", "email",
          "department", "title", "manager", "status"]
ENTERPRISEPACK_SKU_ID = "6fd2c87f-b296-42f0-b197-1e91e994b900"  # made up; stands for "ENTERPRISEPACK" (Office 365 E3)
BB_API = "https://api.bitbucket.org/2.0"
BB_WEB = "https://bitbucket.org"
AVATAR = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials"

# (department, size, head title, [(manager title, count)], [IC titles]) — sizes sum to 300.
DEPARTMENTS: list[tuple[str, int, str, list[tuple[str, int]], list[str]]] = [
    ("Executive", 3, "Chief Executive Officer", [], ["Chief of Staff", "Executive Assistant"]),
    ("Engineering", 78, "Chief Technology Officer", [("Director of Engineering", 2), ("Engineering Manager", 6)],
     ["Software Engineer", "Senior Software Engineer", "Senior Software Engineer", "Staff Software Engineer",
      "Principal Engineer", "Site Reliability Engineer", "QA Engineer", "Data Engineer", "Frontend Engineer",
      "Security Engineer"]),
    ("Support", 30, "Head of Customer Support", [("Support Team Lead", 3)],
     ["Customer Support Specialist", "Customer Support Specialist", "Senior Support Engineer",
      "Technical Support Engineer"]),
    ("IT", 18, "Head of IT", [("IT Manager", 2)],
     ["Systems Administrator", "IT Support Analyst", "Identity & Access Engineer", "Network Engineer",
      "Service Desk Analyst"]),
    ("Sales", 45, "VP Sales", [("Regional Sales Manager", 4)],
     ["Account Executive", "Account Executive", "Senior Account Executive", "Sales Development Representative",
      "Solutions Consultant"]),
    ("Marketing", 27, "VP Marketing", [("Marketing Manager", 3)],
     ["Content Marketing Specialist", "Product Marketing Manager", "Digital Marketing Specialist",
      "Marketing Analyst", "Brand Designer"]),
    ("Product", 27, "VP Product", [("Group Product Manager", 3)],
     ["Product Manager", "Senior Product Manager", "Product Designer", "UX Researcher"]),
    ("Finance", 20, "Chief Financial Officer", [("Financial Controller", 1), ("FP&A Manager", 1)],
     ["Accountant", "Senior Accountant", "Financial Analyst", "Accounts Payable Specialist", "Payroll Specialist"]),
    ("HR", 14, "Chief People Officer", [("HR Business Partner", 2)],
     ["HR Generalist", "Recruiter", "Talent Acquisition Partner", "People Operations Specialist"]),
    ("Legal", 9, "General Counsel", [("Senior Legal Counsel", 1)],
     ["Legal Counsel", "Paralegal", "Contracts Manager", "Privacy Counsel"]),
    ("Operations", 29, "Chief Operating Officer", [("Operations Manager", 3)],
     ["Operations Analyst", "Facilities Coordinator", "Procurement Specialist", "Business Analyst",
      "Office Manager"]),
]
ATLASSIAN_DEPTS = ("Engineering", "Support", "IT")

# The hard cases, placed on purpose: (given, family, display, userName, department, role, title or "").
SPECIAL: list[tuple[str, str, str, str, str, str, str]] = [
    ("Zoë", "Ångström", "Zoë Ångström", "zoe.angstrom", "Engineering", "ic", "Staff Software Engineer"),
    ("José", "Ñúñez-Ibáñez", "José Ñúñez-Ibáñez", "jose.nunez-ibanez", "Sales", "ic", "Account Executive"),
    ("Søren", "Kierkegaard-Øster", "Søren Kierkegaard-Øster", "soren.kierkegaard-oster", "Engineering", "manager",
     "Director of Engineering"),
    ("Małgorzata", "Wiśniewska", "Małgorzata Wiśniewska", "malgorzata.wisniewska", "Finance", "ic",
     "Senior Accountant"),
    ("François", "Lefèvre", "François Lefèvre", "francois.lefevre", "Marketing", "manager", "Marketing Manager"),
    ("Seán", "O'Brien", "Seán O'Brien", "sean.obrien", "Support", "ic", "Senior Support Engineer"),
    ("Giulia", "D'Angelo", "Giulia D'Angelo", "giulia.dangelo", "IT", "ic", "Systems Administrator"),
    ("Anne-Marie", "Dubois-Laurent", "Anne-Marie Dubois-Laurent", "anne-marie.dubois-laurent", "HR", "ic",
     "HR Generalist"),
    ("小龙", "李", "李小龙", "xiaolong.li", "Engineering", "ic", "Senior Software Engineer"),
    ("太郎", "山田", "山田太郎", "taro.yamada", "Product", "ic", "Product Designer"),
    ("Дмитрий", "Иванов", "Дмитрий Иванов", "dmitry.ivanov", "Engineering", "ic", "Site Reliability Engineer"),
    ("Αλέξανδρος", "Παπαδόπουλος", "Αλέξανδρος Παπαδόπουλος", "alexandros.papadopoulos", "Finance", "ic",
     "Financial Analyst"),
    ("محمد", "العلي", "محمد العلي", "mohammed.alali", "Support", "ic", "Technical Support Engineer"),
    ("Thu Trang", "Nguyễn", "Nguyễn Thu Trang", "trang.nguyen", "Marketing", "ic", "Digital Marketing Specialist"),
    ("Siobhán", "Ní Bhriain", "Siobhán Ní Bhriain", "siobhan.nibhriain", "HR", "ic", "Recruiter"),
    ("Pieter", "van der Berg", "Pieter van der Berg", "pieter.vanderberg", "Operations", "ic", "Business Analyst"),
    ("Bartholomew", "Featherstonehaugh-Worthington", "Bartholomew Featherstonehaugh-Worthington",
     "bartholomew.featherstonehaugh-worthington", "Legal", "ic", "Contracts Manager"),
    ("Alexandrina", "Montgomery-Fitzwilliam", "Alexandrina Montgomery-Fitzwilliam",
     "alexandrina.montgomery-fitzwilliam", "Operations", "manager", "Operations Manager"),
    ("Venkatanarayanan", "Ramasubramanian", "Venkatanarayanan Ramasubramanian",
     "venkatanarayanan.ramasubramanian", "Engineering", "ic", "Principal Engineer"),
    ("John", "Smith", "John Smith", "john.smith", "Engineering", "ic", "Software Engineer"),
    ("John", "Smith", "John Smith", "john.smith2", "Support", "ic", "Customer Support Specialist"),
    ("Maria", "Garcia", "Maria Garcia", "maria.garcia", "Sales", "manager", "Regional Sales Manager"),
    ("Maria", "Garcia", "Maria Garcia", "maria.garcia2", "Support", "ic", "Customer Support Specialist"),
]

GIVEN = ("Aaliyah Aaron Abigail Adam Adebayo Aditi Aisha Alan Alice Amara Amelia Ana Andrew Anika Arjun Ava "
         "Beatriz Ben Bianca Caleb Camila Carlos Charlotte Chen Chloe Chinedu Clara Daniel David Diego Elena "
         "Eli Emily Emma Ethan Farah Fatima Felix Fiona Gabriel Grace Hana Hannah Harper Hassan Henry Ibrahim "
         "Ines Isaac Isabel Ivan Jack Jamal James Jasmine Javier Jessica Joao Jonas Julia Kai Karen Kenji "
         "Kofi Laila Laura Leo Liam Lina Lucas Luis Maya Mei Mia Michael Mohamed Nadia Naomi Nathan Nina "
         "Noah Olivia Omar Oscar Paul Priya Rachel Rafael Rahul Ravi Rosa Ryan Samuel Sara Sofia Sophie "
         "Tariq Thomas Tomas Valentina Victor Wei William Yara Yusuf Zara").split()
FAMILY = ("Adams Ahmed Akhtar Alvarez Anderson Bailey Baker Banerjee Bennett Brooks Brown Campbell Carter "
          "Castro Chen Choi Clarke Collins Cooper Costa Cruz Das Davies Diaz Edwards Evans Fernandes Fischer "
          "Flores Ford Foster Gomez Gonzalez Gray Green Gupta Hall Harris Hughes Hussain Ito Jackson Jensen "
          "Johnson Jones Kaur Kelly Khan Kim King Kowalski Kumar Larsen Lee Lewis Lopez Martin Martinez "
          "Mendes Meyer Miller Mitchell Moore Morales Morgan Murphy Nakamura Nielsen Novak Okafor Okonkwo "
          "Oliveira Park Patel Perez Peters Phillips Price Reed Reyes Richards Rivera Roberts Rossi Russell "
          "Sanchez Santos Schmidt Scott Shah Silva Singh Stewart Suzuki Tanaka Taylor Thompson Turner Walker "
          "Wang Watson White Williams Wilson Wong Wright Yamamoto Young Zhang").split()

_TRANSLIT = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d",
                           "Đ": "D", "'": "", "’": "", " ": ""})


def ascii_slug(text: str) -> str:
    """Lower-case ASCII for userNames: strip diacritics, drop apostrophes and spaces, keep hyphens."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c == "-")).lower()


def det_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_people(rng: random.Random) -> list[dict[str, str]]:
    """The org chart: CEO → department heads → managers → individual contributors; ids assigned at random."""
    used_display = {s[2] for s in SPECIAL}
    used_user = {s[3] for s in SPECIAL}
    specials: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for s in SPECIAL:
        specials.setdefault((s[4], s[5]), []).append(s)

    def person(dept: str, role: str, title: str) -> dict[str, str]:
        pool = specials.get((dept, role), [])
        match = next((s for s in pool if s[6] == title or role == "ic"), None)
        if match is not None:
            pool.remove(match)
            given, family, display, user_name = match[:4]
            title = match[6] or title
        else:
            while True:
                given, family = rng.choice(GIVEN), rng.choice(FAMILY)
                display = f"{given} {family}"
                if display not in used_display:
                    break
            user_name = base = f"{ascii_slug(given)}.{ascii_slug(family)}"
            n = 2
            while user_name in used_user:
                user_name, n = f"{base}{n}", n + 1
        used_display.add(display)
        used_user.add(user_name)
        return {"employeeId": "", "userName": user_name, "givenName": given, "familyName": family,
                "displayName": display, "email": f"{user_name}@{DOMAIN}", "department": dept, "title": title,
                "manager": "", "status": "active"}

    people: list[dict[str, str]] = []
    edges: list[tuple[dict[str, str], dict[str, str]]] = []  # (person, manager)
    ceo = person("Executive", "head", "Chief Executive Officer")
    people.append(ceo)
    for dept, size, head_title, manager_titles, ic_titles in DEPARTMENTS:
        if dept == "Executive":
            head = ceo
        else:
            head = person(dept, "head", head_title)
            people.append(head)
            edges.append((head, ceo))
        managers: list[dict[str, str]] = []
        directors: list[dict[str, str]] = []
        for title, count in manager_titles:
            for _ in range(count):
                m = person(dept, "manager", title)
                boss = rng.choice(directors) if directors and not title.startswith("Director") else head
                edges.append((m, boss))
                (directors if title.startswith("Director") else managers).append(m)
                people.append(m)
        leads = managers or directors or [head]
        n_ic = size - 1 - len(managers) - len(directors)
        for i in range(n_ic):
            ic = person(dept, "ic", rng.choice(ic_titles))
            edges.append((ic, leads[i % len(leads)]))
            people.append(ic)
    leftover = [s for pool in specials.values() for s in pool]
    assert not leftover, f"special people not placed: {leftover}"

    numbers = sorted(rng.sample(range(10002, 10700), len(people) - 1))
    rng.shuffle(numbers)
    ceo["employeeId"] = "E10001"
    for p, num in zip(people[1:], numbers):
        p["employeeId"] = f"E{num}"
    for p, boss in edges:
        p["manager"] = boss["employeeId"]

    managers_ids = {p["manager"] for p in people}
    leaver_depts = ["Engineering", "Engineering", "Support", "IT", "Sales", "Marketing", "Finance", "Operations"]
    special_names = {s[3] for s in SPECIAL}
    for dept in leaver_depts:
        candidates = [p for p in people if p["department"] == dept and p["status"] == "active"
                      and p["employeeId"] not in managers_ids and p["userName"] not in special_names]
        rng.choice(candidates)["status"] = "leaver"
    return sorted(people, key=lambda p: p["employeeId"])


def build_groups(rng: random.Random, people: list[dict[str, str]]) -> list[dict[str, Any]]:
    by_dept: dict[str, list[str]] = {}
    for p in people:
        by_dept.setdefault(p["department"], []).append(p["employeeId"])
    active = [p["employeeId"] for p in people if p["status"] == "active"]
    everyone = [p["employeeId"] for p in people]
    groups: list[dict[str, Any]] = []
    for dept, *_ in DEPARTMENTS:
        groups.append({"name": f"dept-{dept.lower()}", "description": f"Everyone in {dept} (from the HR feed)",
                       "members": by_dept[dept]})
    atlassian = sorted(e for d in ATLASSIAN_DEPTS for e in by_dept[d])
    groups.append({"name": "atlassian-users", "description": "Bitbucket Cloud access: Engineering, Support and IT",
                   "members": atlassian})
    groups.append({"name": "m365-licensed", "description": "Microsoft 365 E3 licence: every active employee",
                   "members": active})
    groups.append({"name": "ad-users", "description": "Active Directory account: everyone on the HR feed",
                   "members": everyone})
    vpn_pool = [p["employeeId"] for p in people if p["status"] == "active" and (
        p["department"] in ("Engineering", "IT") or "Manager" in p["title"] or p["title"].startswith(("Chief", "VP")))]
    groups.append({"name": "vpn-users", "description": "Remote access VPN", "members": sorted(vpn_pool)})
    approvers = [p["employeeId"] for p in people if p["status"] == "active" and (
        p["employeeId"] == "E10001" or (p["department"] == "Finance" and (
            p["title"].startswith("Chief") or "Controller" in p["title"] or "Manager" in p["title"])))]
    groups.append({"name": "finance-approvers", "description": "May approve invoices above 10,000 GBP",
                   "members": sorted(approvers)})
    montreal_fixed = [p["employeeId"] for p in people
                      if p["userName"] in ("francois.lefevre", "anne-marie.dubois-laurent")]
    others = [e for e in active if e not in montreal_fixed]
    groups.append({"name": "Équipe Montréal", "description": "Bureau de Montréal — tout le personnel",
                   "members": sorted(montreal_fixed + rng.sample(others, 10))})
    groups.append({"name": "project-aurora", "description": "New project team (nobody assigned yet)",
                   "members": []})
    return groups


def build_policies() -> list[dict[str, Any]]:
    return [
        {"name": "bitbucket-engineering", "app": "bitbucket-cloud", "groups": ["atlassian-users"],
         "login_method": "sso", "enabled": True},
        {"name": "corp-ad-accounts", "app": "corp-ad", "groups": ["ad-users"], "login_method": "password",
         "enabled": True},
        {"name": "m365-licences", "app": "m365", "groups": ["m365-licensed"], "login_method": "sso",
         "enabled": True},
        {"name": "m365-montreal-pilot", "app": "m365", "groups": ["Équipe Montréal"], "login_method": "sso",
         "enabled": False},
    ]


def build_apps() -> list[dict[str, Any]]:
    """Application definitions with placeholders the demo fills in ({scim_url}, …) and secret references only."""
    all_on = {"create": True, "update": True, "deactivate": True, "delete": False, "groups": True,
              "memberships": True}
    base_dn = "DC=corp,DC=northwind,DC=example"
    return [
        {"name": "bitbucket-cloud", "kind": "atlassian",
         "settings": {"base_url": "{scim_url}", "timeout": 30.0},
         "secrets": {"token": "env:IDCONSOLE_DEMO_SCIM_TOKEN"},
         "features": dict(all_on), "deprovision": "deactivate"},
        {"name": "corp-ad", "kind": "ad",
         "settings": {"url": "{ldap_url}", "bind_user": f"CN=svc-idconsole,OU=Service Accounts,{base_dn}",
                      "base_dn": base_dn, "users_ou": f"OU=Users,OU=Northwind,{base_dn}",
                      "disabled_ou": f"OU=Disabled Users,OU=Northwind,{base_dn}",
                      "groups_ou": f"OU=Groups,OU=Northwind,{base_dn}", "upn_suffix": DOMAIN,
                      "mail_domain": DOMAIN, "ca_file": "{ldap_ca_file}", "verify_tls": True,
                      "start_tls": False},
         "secrets": {"password": "env:IDCONSOLE_DEMO_AD_PASSWORD"},
         "features": dict(all_on), "deprovision": "deactivate"},
        {"name": "m365", "kind": "graph",
         "settings": {"tenant_id": "0b7e4c9a-3f1d-4e62-9a85-5c2d1f8e7a30",
                      "client_id": "4d2f9b61-8c0e-4a7b-b3d5-e19f6a2c8b47", "base_url": "{graph_url}",
                      "authority": "{graph_authority}", "usage_location": "GB",
                      "license_skus": [ENTERPRISEPACK_SKU_ID], "upn_suffix": DOMAIN, "revoke_sessions": True,
                      "remove_licenses": True, "delete_after_days": 30},
         "secrets": {"client_secret": "env:IDCONSOLE_DEMO_GRAPH_SECRET"},
         "features": {**all_on, "delete": True}, "deprovision": "delete"},
        {"name": "bitbucket-members", "kind": "bitbucket",
         "settings": {"workspace": WORKSPACE, "client_id": "nwDemoConsumerKey7Q", "base_url": "{bitbucket_url}",
                      "token_url": "{bitbucket_token_url}", "auth": "oauth"},
         "secrets": {"client_secret": "env:IDCONSOLE_DEMO_BITBUCKET_SECRET"},
         "features": {k: False for k in all_on}, "deprovision": "deactivate"},
    ]


FUTURE_JOINERS = [("Ingrid", "Halvorsen", "ingrid.halvorsen"), ("Kwame", "Mensah", "kmensah"),
                  ("Lucía", "Fernández", "lucia.fernandez"), ("Oleksandr", "Shevchenko", "o.shevchenko"),
                  ("Priyanka", "Raghunathan", "priyanka.r"), ("Tobias", "Brandt", "tbrandt"),
                  ("Yuki", "Watanabe", "yuki.watanabe"), ("Amélie", "Rousseau", "amelie.rousseau"),
                  ("Declan", "Ó Súilleabháin", "declan.osullivan"), ("Hyun-woo", "Kang", "hyunwoo.kang"),
                  ("Fernanda", "Lima", "fernanda.lima"), ("Rasmus", "Lindqvist", "rlindqvist")]


def _initials(display: str) -> str:
    words = [ascii_slug(w)[:1].upper() for w in display.split()]
    letters = [w for w in words if w]
    return "".join(letters[:1] + letters[-1:]) if len(letters) > 1 else "".join(letters) or "U"


def workspace_role(person: dict[str, str]) -> str:
    """The Bitbucket workspace permission of a person of the HR file: heads of Engineering, Support and IT are owners."""
    title = person["title"]
    return "owner" if title.startswith(("Chief", "Director", "Head")) or title == "IT Manager" else "member"


ROLE_RULES = {"bb-owners": 'role == "owner"', "bb-collaborators": 'role == "collaborator"'}


def build_roles(people: list[dict[str, str]], members: list[dict[str, Any]]) -> dict[str, Any]:
    """Role groups (owners, collaborators of the Bitbucket workspace) and the policies that push them to AD and
    Microsoft 365. Each group lists its members (plain groups) and the rule that will replace the list once rule
    groups exist; the demo chooses (console/sample.py ROLE_GROUPS_FROM_RULES)."""
    by_user = {p["userName"]: p["employeeId"] for p in people}
    roles: dict[str, list[str]] = {"owner": [], "collaborator": []}
    for member in members:
        eid = by_user.get(member["user"]["nickname"])
        if eid and member["permission"] in roles:
            roles[member["permission"]].append(eid)
    groups = [{"name": "bb-owners", "description": "Owners of the Bitbucket workspace: admin groups in AD and M365",
               "rule": ROLE_RULES["bb-owners"], "members": sorted(roles["owner"])},
              {"name": "bb-collaborators", "description": "Collaborators of the Bitbucket workspace (outside teams)",
               "rule": ROLE_RULES["bb-collaborators"], "members": sorted(roles["collaborator"])}]
    policies = [{"name": "corp-ad-roles", "app": "corp-ad", "groups": ["bb-owners", "bb-collaborators"],
                 "login_method": "password", "enabled": True},
                {"name": "m365-roles", "app": "m365", "groups": ["bb-owners", "bb-collaborators"],
                 "login_method": "sso", "enabled": True}]
    return {"groups": groups, "policies": policies}


def build_bitbucket(rng: random.Random, people: list[dict[str, str]],
                    groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Workspace memberships: atlassian-users (all but 2 newest), 4 Product people, 12 future joiners."""
    atlassian = next(g for g in groups if g["name"] == "atlassian-users")["members"]
    by_id = {p["employeeId"]: p for p in people}
    not_yet = set(rng.sample([e for e in atlassian if by_id[e]["status"] == "active"
                              and by_id[e]["userName"] not in {s[3] for s in SPECIAL}], 2))
    product = [p["employeeId"] for p in people if p["department"] == "Product" and p["status"] == "active"]
    chosen = [(by_id[e]["displayName"], by_id[e]["userName"], workspace_role(by_id[e]))
              for e in atlassian if e not in not_yet]
    chosen += [(by_id[e]["displayName"], by_id[e]["userName"], "collaborator") for e in sorted(rng.sample(product, 4))]
    chosen += [(f"{g} {f}", nick, "member") for g, f, nick in FUTURE_JOINERS]
    ws_uuid = "{" + det_uuid(rng) + "}"
    workspace = {"type": "workspace", "uuid": ws_uuid, "name": "Northwind Analytics", "slug": WORKSPACE,
                 "links": {"avatar": {"href": f"{BB_WEB}/workspaces/{WORKSPACE}/avatar/?ts=1718283011"},
                           "html": {"href": f"{BB_WEB}/{WORKSPACE}/"},
                           "self": {"href": f"{BB_API}/workspaces/{WORKSPACE}"}}}
    members = []
    for display, nickname, permission in chosen:
        if nickname == "john.smith2":
            nickname = "john.smith"  # Bitbucket nicknames are not unique: both John Smiths chose the same
        user_uuid = det_uuid(rng)
        prefix = "557058" if rng.random() < 0.6 else "712020"
        quoted = f"%7B{user_uuid}%7D"
        user = {"display_name": display,
                "links": {"self": {"href": f"{BB_API}/users/{quoted}"},
                          "avatar": {"href": f"{AVATAR}/{_initials(display)}-{rng.randint(0, 6)}.png"},
                          "html": {"href": f"{BB_WEB}/{quoted}/"}},
                "type": "user", "uuid": "{" + user_uuid + "}", "account_id": f"{prefix}:{det_uuid(rng)}",
                "nickname": nickname}
        members.append({"type": "workspace_membership", "permission": permission, "user": user, "workspace": workspace,
                        "links": {"self": {"href": f"{BB_API}/workspaces/{WORKSPACE}/members/{quoted}"}}})
    rng.shuffle(members)
    return members


def bitbucket_page(members: list[dict[str, Any]], page: int = 1, pagelen: int = 100) -> dict[str, Any]:
    """One page of GET /2.0/workspaces/{workspace}/members as the API returns it."""
    values = members[(page - 1) * pagelen: page * pagelen]
    envelope: dict[str, Any] = {"pagelen": pagelen, "size": len(members), "values": values, "page": page}
    if page * pagelen < len(members):
        envelope["next"] = f"{BB_API}/workspaces/{WORKSPACE}/members?page={page + 1}&pagelen={pagelen}"
    return envelope


def build_graph_users(rng: random.Random, people: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Accounts already in the M365 tenant (to adopt): 3 matching and licensed, 1 stale title and unlicensed,
    1 leaver still enabled and licensed."""
    by_user = {p["userName"]: p for p in people}
    leaver = next(p for p in people if p["status"] == "leaver" and p["department"] == "Sales")
    picks = [by_user["sean.obrien"], by_user["dmitry.ivanov"], by_user["zoe.angstrom"],
             by_user["malgorzata.wisniewska"], leaver]
    users = []
    for i, p in enumerate(picks):
        title = "Accountant" if p["userName"] == "malgorzata.wisniewska" else p["title"]  # drift: promoted since
        licensed = i < 3 or p is leaver
        users.append({
            "id": det_uuid(rng), "businessPhones": [], "displayName": p["displayName"],
            "givenName": p["givenName"], "jobTitle": title, "mail": p["email"], "mobilePhone": None,
            "officeLocation": "London", "preferredLanguage": "en-GB", "surname": p["familyName"],
            "userPrincipalName": f"{p['userName']}@{DOMAIN}", "accountEnabled": True, "usageLocation": "GB",
            "mailNickname": p["userName"], "employeeId": p["employeeId"], "department": p["department"],
            "createdDateTime": f"2023-0{i + 2}-1{i}T09:1{i}:00Z",
            "assignedLicenses": [{"disabledPlans": [], "skuId": ENTERPRISEPACK_SKU_ID}] if licensed else []})
    return users


def build_bad_people(people: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Rows for import-error demos (line 1 is the header) and the faults each bad line must produce."""
    boss = next(p for p in people if p["title"] == "Chief People Officer")["employeeId"]
    taken = next(p for p in people if p["userName"] == "zoe.angstrom")

    def row(eid: str, user: str, given: str, family: str, **kw: str) -> dict[str, str]:
        r = {"employeeId": eid, "userName": user, "givenName": given, "familyName": family,
             "displayName": f"{given} {family}", "email": f"{user}@{DOMAIN}", "department": "HR",
             "title": "Recruiter", "manager": boss, "status": "active"}
        r.update(kw)
        return r

    rows = [
        row("E90001", "ola.nordmann", "Ola", "Nordmann"),                                   # 2 good
        row("E90002", "kari.hansen", "Kari", "Hansen", email="kari.hansen@@northwind"),     # 3 bad e-mail
        row("", "lars.berg", "Lars", "Berg"),                                               # 4 no employeeId
        row("E90003", "astrid.lund", "Astrid", "Lund"),                                     # 5 good
        row("E90003", "nils.holm", "Nils", "Holm"),                                         # 6 dup employeeId
        row("E90004", taken["userName"], "Zoe", "Angstrom", email=f"zoe.a@{DOMAIN}"),       # 7 userName taken
        row("E90005", "eva.dahl", "Eva", "Dahl", manager="E99999"),                         # 8 unknown manager
        row("E90006", "per.moen", "Per", "Moen", status="retired"),                         # 9 bad status
        row("E90007", "siri.vik", "Siri", "Vik", title="Senior " + "Very " * 60 + "Long Title"),  # 10 > 256
        row("E90008", "bjorn.odegard", "Bjørn", "Ødegård",
            manager="francois.lefevre"),                                                    # 11 good, manager=USER
        row("E90009", "ingvild.strand", "Ingvild", "Strand", status="leaver"),              # 12 good leaver
    ]
    expected = [
        {"line": 3, "field": "email", "reason": "invalid", "value": rows[1]["email"],
         "note": "not an e-mail address"},
        {"line": 4, "field": "employeeId", "reason": "required", "value": "", "note": "primary key missing"},
        {"line": 6, "field": "employeeId", "reason": "duplicate", "value": "E90003",
         "note": "same employeeId as line 5 of this file (line 5 itself is fine)"},
        {"line": 7, "field": "userName", "reason": "duplicate", "value": taken["userName"],
         "note": f"userName of existing person {taken['employeeId']} (people.csv imported first)"},
        {"line": 8, "field": "manager", "reason": "unknown", "value": "E99999",
         "note": "no such person in people.csv or in this file"},
        {"line": 9, "field": "status", "reason": "invalid", "value": "retired", "note": "status is active|leaver"},
        {"line": 10, "field": "title", "reason": "too long", "value": f"{len(rows[8]['title'])} characters",
         "note": "longer than 256 characters"},
    ]
    return rows, expected


# --- checking the Bitbucket objects against the spec subset (a tiny Swagger 2.0 checker, no jsonschema) ---

SPEC_NAME = "bitbucket-users-subset.json"
# What the real endpoint returns for each member, beyond the spec's only `required` ("type").
RETURNED_KEYS = {
    "": ("type", "links", "user", "workspace"),
    "links": ("self",),
    "links.self": ("href",),
    "user": ("type", "uuid", "account_id", "display_name", "nickname", "links"),
    "user.links": ("self", "html", "avatar"),
    "workspace": ("type", "uuid", "slug", "name", "links"),
}
_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}


def find_spec() -> Path | None:
    """The spec subset: $IDCONSOLE_BITBUCKET_SPEC, <repo>/specs/, <repo>/../shared/specs/, /work/shared/specs/."""
    repo = Path(__file__).resolve().parent.parent
    candidates = [os.environ.get("IDCONSOLE_BITBUCKET_SPEC", ""), repo / "specs" / SPEC_NAME,
                  repo.parent / "shared" / "specs" / SPEC_NAME, Path("/work/shared/specs") / SPEC_NAME]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _type_ok(value: Any, json_type: str) -> bool:
    if json_type in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def _subtype(defs: dict[str, Any], name: str, value: Any) -> str:
    """Follow the `object` discriminator: an `account` whose type is "user" is checked as a `user`."""
    concrete = value.get("type") if isinstance(value, dict) else None
    if concrete in defs and concrete != name:
        refs = [part.get("$ref", "") for part in defs[concrete].get("allOf", [])]
        if f"#/definitions/{name}" in refs:
            return str(concrete)
    return name


def check_schema(value: Any, schema: dict[str, Any], defs: dict[str, Any], path: str = "$",
                 dispatch: bool = True) -> list[str]:
    """Errors of `value` against a Swagger 2.0 schema: $ref (with the discriminator), allOf, type, required,
    properties, additionalProperties: false, enum, minimum, items, uniqueItems, format uri/date-time."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return check_schema(value, defs[_subtype(defs, name, value) if dispatch else name], defs, path)
    errors: list[str] = []
    for part in schema.get("allOf", []):
        errors += check_schema(value, part, defs, path, dispatch=False)
    json_type = schema.get("type")
    if json_type and not _type_ok(value, json_type):
        return errors + [f"{path}: expected {json_type}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: {value} < minimum {schema['minimum']}")
    fmt = schema.get("format")
    if fmt == "uri" and isinstance(value, str):
        parsed = urlparse(value)
        if not (parsed.scheme in ("http", "https") and parsed.netloc) or " " in value:
            errors.append(f"{path}: not a URI: {value!r}")
    if fmt == "date-time" and isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{path}: not a date-time: {value!r}")
    if isinstance(value, dict):
        errors += [f"{path}: missing required {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += check_schema(item, props[key], defs, f"{path}.{key}")
            elif schema.get("additionalProperties") is False and "allOf" not in schema:
                errors.append(f"{path}: unexpected property {key!r}")
    if isinstance(value, list):
        if "items" in schema:
            for i, item in enumerate(value):
                errors += check_schema(item, schema["items"], defs, f"{path}[{i}]")
        if schema.get("uniqueItems"):
            dumped = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(dumped)) != len(dumped):
                errors.append(f"{path}: items are not unique")
    return errors


def check_membership(member: dict[str, Any], defs: dict[str, Any], path: str = "$") -> list[str]:
    """A workspace_membership against the spec, plus the keys the real endpoint returns (and no e-mail)."""
    errors = check_schema(member, {"$ref": "#/definitions/workspace_membership"}, defs, path)
    # The members endpoint returns `user` objects: check as one even when `type` is wrong (no dispatch then).
    errors += check_schema(member.get("user"), {"$ref": "#/definitions/user"}, defs, f"{path}.user", dispatch=False)
    errors = list(dict.fromkeys(errors))
    for where, keys in RETURNED_KEYS.items():
        node: Any = member
        for part in filter(None, where.split(".")):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        errors += [f"{path}.{where or '<root>'}: missing {k!r}" for k in keys if k not in node]
    for key, expected in (("type", "workspace_membership"),):
        if member.get(key) != expected:
            errors.append(f"{path}.{key}: expected {expected!r}")
    user = member.get("user", {})
    if user.get("type") != "user" or "email" in user:
        errors.append(f"{path}.user: must be type 'user' without 'email'")
    return errors


def validate_bitbucket(members: list[dict[str, Any]], page: dict[str, Any], spec_path: Path) -> None:
    """Raise ValueError listing every deviation of the generated members/page from the spec subset."""
    defs = json.loads(spec_path.read_text(encoding="utf-8"))["definitions"]
    errors: list[str] = []
    for i, member in enumerate(members):
        errors += check_membership(member, defs, f"members[{i}]")
    errors += check_schema(page, {"$ref": "#/definitions/paginated_workspace_memberships"}, defs, "page1")
    if errors:
        raise ValueError("Bitbucket sample data does not match the spec subset:\n" + "\n".join(errors[:20]))


# --- writing ---

def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def generate(out_dir: Path, *, spec_path: Path | None = None, validate: bool = True) -> dict[str, int]:
    """Write every sample file into `out_dir`; return counts. Validates Bitbucket data against the spec subset."""
    rng = random.Random(SEED)
    people = build_people(rng)
    groups = build_groups(rng, people)
    members = build_bitbucket(rng, people, groups)
    page1 = bitbucket_page(members)
    graph_users = build_graph_users(rng, people)
    bad_rows, bad_expected = build_bad_people(people)
    if validate:
        spec_path = spec_path or find_spec()
        if spec_path is None:
            raise FileNotFoundError(f"{SPEC_NAME} not found (set IDCONSOLE_BITBUCKET_SPEC or pass validate=False)")
        validate_bitbucket(members, page1, spec_path)
    files = {
        "people.csv": _csv_bytes(people),
        "people.json": _json_bytes(people),
        "bad_people.csv": _csv_bytes(bad_rows),
        "bad_people.expected.json": _json_bytes(bad_expected),
        "groups.json": _json_bytes(groups),
        "policies.json": _json_bytes(build_policies()),
        "apps.json": _json_bytes(build_apps()),
        "bitbucket_members.json": _json_bytes(members),
        "bitbucket_page1.json": _json_bytes(page1),
        "graph_users.json": _json_bytes(graph_users),
        "roles.json": _json_bytes(build_roles(people, members)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return {"people": len(people), "leavers": sum(p["status"] == "leaver" for p in people),
            "groups": len(groups), "bitbucket_members": len(members), "graph_users": len(graph_users),
            "bad_rows": len(bad_expected)}


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    counts = generate(out_dir)
    print(", ".join(f"{k}={v}" for k, v in counts.items()), "->", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

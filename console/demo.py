"""`idconsole demo`: the console on a throw-away home with the sample organisation and local sandboxes.

Everything listens on loopback: scim2-server as the Atlassian directory, the Graph and Bitbucket
sandboxes, and a Samba AD DC when Samba is installed (otherwise the AD application is added with
its policy disabled and labelled offline). Secrets are random per run and passed as environment
variables, referenced from the state like an operator's own.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from console.errors import IdConsoleError
from console.models import utcnow
from console.sample import SAMPLE_DIR, load_apps_and_policies, load_people_and_groups, load_roles
from console.service import Service
from console.store import Store

DEMO_REALM = "CORP.NORTHWIND.EXAMPLE"
AD_OUS = ("OU=Northwind", "OU=Users,OU=Northwind", "OU=Disabled Users,OU=Northwind", "OU=Groups,OU=Northwind")


class Demo:
    """The running sandboxes of one demo, and the home they were written into."""

    def __init__(self, home: Path, *, with_ad: bool = True, say: Callable[[str], None] = print) -> None:
        self.home = home
        self.with_ad = with_ad
        self.say = say
        self.stops: list[Callable[[], None]] = []
        self.values: dict[str, str] = {}
        self.notes: list[str] = []

    def start(self) -> Demo:
        try:
            self._scim()
            self._graph()
            self._bitbucket()
            if self.with_ad:
                self._samba()
            else:
                self.notes.append("Active Directory: offline directory — the demo was started with --no-ad")
            self._load()
        except BaseException:
            self.stop()
            raise
        return self

    def _scim(self) -> None:
        from console.sandbox.scim_directory import ScimDirectoryServer

        token = secrets.token_urlsafe(24)
        (self.home / "logs").mkdir(exist_ok=True)
        server = ScimDirectoryServer(token, tenants=1, log_dir=self.home / "logs").start()
        self.stops.append(server.stop)
        os.environ["IDCONSOLE_DEMO_SCIM_TOKEN"] = token
        self.values["scim_url"] = server.base_url(server.new_directory())
        self.say(f"  Atlassian SCIM directory (scim2-server)  {self.values['scim_url']}")

    def _graph(self) -> None:
        from console.sandbox.graph import start_in_thread

        apps = {a["name"]: a for a in orjson.loads((SAMPLE_DIR / "apps.json").read_bytes())}
        settings = apps["m365"]["settings"]
        secret = secrets.token_urlsafe(24)
        data = orjson.loads((SAMPLE_DIR / "graph_users.json").read_bytes())
        running = start_in_thread(data=data, tenant_id=settings["tenant_id"], client_id=settings["client_id"],
                                  client_secret=secret, domains=(settings["upn_suffix"],))
        self.stops.append(running.stop)
        os.environ["IDCONSOLE_DEMO_GRAPH_SECRET"] = secret
        self.values["graph_url"] = f"{running.url}/v1.0"
        self.values["graph_authority"] = running.url
        self.say(f"  Microsoft Graph sandbox                  {self.values['graph_url']}")

    def _bitbucket(self) -> None:
        from console.sandbox.bitbucket import start_in_thread

        apps = {a["name"]: a for a in orjson.loads((SAMPLE_DIR / "apps.json").read_bytes())}
        client_id = apps["bitbucket-members"]["settings"]["client_id"]
        secret = secrets.token_urlsafe(24)
        handle = start_in_thread(data=SAMPLE_DIR / "bitbucket_members.json", clients={client_id: secret})
        self.stops.append(handle.stop)
        self.bitbucket = handle
        os.environ["IDCONSOLE_DEMO_BITBUCKET_SECRET"] = secret
        self.values["bitbucket_url"] = f"{handle.url}/2.0"
        self.values["bitbucket_token_url"] = f"{handle.url}/site/oauth2/access_token"
        self.say(f"  Bitbucket Cloud sandbox                  {self.values['bitbucket_url']}")

    def _samba(self) -> None:
        try:
            from console.sandbox.samba import SambaDC, samba_missing
        except ImportError:
            self.notes.append("Active Directory: offline (this build has no Samba support)")
            return
        missing = samba_missing()
        if missing:
            self.notes.append(f"Active Directory: offline directory — {missing}; install Debian's samba for a real DC")
            return
        self.say("  Active Directory: provisioning a Samba AD DC (takes a little while) …")
        started = time.monotonic()
        dc = SambaDC(self.home / "samba", realm=DEMO_REALM, domain="NORTHWIND")
        try:
            dc.start()
            dc.create_ous(*AD_OUS)
        except IdConsoleError as exc:
            dc.stop()
            self.notes.append(f"Active Directory: offline — the Samba DC did not start ({exc.title})")
            return
        self.stops.append(dc.stop)
        os.environ["IDCONSOLE_DEMO_AD_PASSWORD"] = dc.admin_password
        self.values["ldap_url"] = dc.ldaps_url
        self.values["ldap_ca_file"] = str(dc.ca_file)
        self.ad_bind_user = dc.admin_user
        self.say(f"  Active Directory (Samba 4 AD DC)         {dc.ldaps_url}  ({time.monotonic() - started:.0f} s)")

    def _load(self) -> None:
        with Store.open(self.home) as store:
            svc = Service(store, operator="demo")
            load_people_and_groups(svc)
            added = load_apps_and_policies(svc, self.values)
            ad = store.applications.by_name("corp-ad")
            if ad is not None and getattr(self, "ad_bind_user", None):
                ad.settings["bind_user"] = self.ad_bind_user
                store.applications.put(ad)
            if "corp-ad" not in added:
                self._offline_ad(svc)
            load_roles(svc, [*added, "corp-ad"])
            store.flush()
            self.say(f"  {len(store.users)} people, {len(store.groups)} groups, {len(store.policies)} policies, "
                     f"applications: {', '.join(a.name for a in svc.apps())}")

    def _offline_ad(self, svc: Service) -> None:
        """The AD application without a DC: kept for the tour, labelled offline, its policy disabled."""
        values = {**self.values, "ldap_url": "ldaps://offline.invalid:636", "ldap_ca_file": ""}
        load_apps_and_policies(svc, values, only={"corp-ad"})
        app = svc.store.applications.by_name("corp-ad")
        if app is not None:
            app.last_test = {"time": utcnow(), "ok": False, "message": self.notes[-1] if self.notes else "offline"}
            svc.store.applications.put(app)
        for policy in svc.store.policies:
            if policy.app == "corp-ad":
                policy.enabled = False
                svc.store.policies.put(policy)

    # ---- the story: what happens in Bitbucket, then an automated cycle ------------------------------
    def _member(self, nickname: str) -> dict[str, Any]:
        state = self.bitbucket.state
        with state.lock:
            for row in state.members.get("northwind", []):
                if row["user"].get("nickname") == nickname:
                    return row
        raise KeyError(f"no workspace member with the nickname {nickname!r}")

    def promote(self, nickname: str, permission: str = "owner") -> None:
        """A member becomes an owner of the workspace (the demo's Bitbucket)."""
        row = self._member(nickname)
        with self.bitbucket.state.lock:
            row["permission"] = permission

    def rename(self, nickname: str, display_name: str) -> None:
        """A member changes their name in Bitbucket (a mover)."""
        self.bitbucket.state.update_user(self._member(nickname)["user"]["account_id"], display_name=display_name)

    def leave(self, nickname: str) -> None:
        """A member leaves the workspace (a leaver)."""
        self.bitbucket.state.remove_member(self._member(nickname)["user"]["account_id"], "northwind")

    def cycle(self) -> str:
        """One automated cycle on the demo's home, as the timer would run it; its summary."""
        with Store.open(self.home) as store:
            report = asyncio.run(Service(store, operator="demo-cycle").run_cycle())
        return report.summary()

    def story(self, line: str) -> str:
        """One command of the headless tour: cycle | promote NICK | rename NICK NEW NAME | leave NICK."""
        words = shlex.split(line)
        if not words:
            return ""
        verb, args = words[0], words[1:]
        try:
            if verb == "cycle":
                return self.cycle()
            if verb == "promote" and len(args) == 1:
                self.promote(args[0])
                return f"{args[0]} is now an owner of the workspace (the next cycle follows)"
            if verb == "rename" and len(args) >= 2:
                self.rename(args[0], " ".join(args[1:]))
                return f"{args[0]} is now called {' '.join(args[1:])} in Bitbucket"
            if verb == "leave" and len(args) == 1:
                self.leave(args[0])
                return f"{args[0]} left the workspace"
        except (KeyError, IdConsoleError) as exc:
            return f"error: {exc}"
        return "commands: cycle | promote NICK | rename NICK NEW DISPLAY NAME | leave NICK | quit"

    def stop(self) -> None:
        while self.stops:
            with contextlib.suppress(Exception):
                self.stops.pop()()


def run_demo(a: argparse.Namespace, launch: Callable[[Path | None, bool], int]) -> int:
    """Prepare the demo home and its sandboxes, then run the console on it through `launch` (or the headless tour)."""
    home = Path(a.home) if a.home else Path(tempfile.mkdtemp(prefix="idconsole-demo-"))
    if a.home and (home / "state.json").exists():
        print(f"error: {home} already holds a state; the demo needs an empty home", file=sys.stderr)
        return 2
    home.mkdir(parents=True, exist_ok=True)
    print(f"idconsole demo — home {home}")
    demo = Demo(home, with_ad=not getattr(a, "no_ad", False))
    try:
        demo.start()
        for note in demo.notes:
            print(f"  note: {note}")
        if getattr(a, "headless", False):
            env_file = home / "demo.env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:  # throw-away sandbox credentials, readable by this user only
                fh.write(f"export IDCONSOLE_HOME={home}\n")
                for name in sorted(k for k in os.environ if k.startswith("IDCONSOLE_DEMO_")):
                    fh.write(f"export {name}={os.environ[name]}\n")
            print(f"sandboxes are up. In another shell: source {env_file}  (Ctrl-C here stops the demo)")
            if getattr(a, "cycle", False):
                print(demo.cycle())
            with contextlib.suppress(KeyboardInterrupt, EOFError):
                if not sys.stdin.isatty():
                    while True:
                        time.sleep(3600)
                print("the tour: cycle | promote NICK | rename NICK NEW NAME | leave NICK | quit")
                while (line := input("demo> ").strip()) not in ("quit", "exit"):
                    print(demo.story(line))
            return 0
        return launch(home, a.readonly)
    finally:
        demo.stop()
        if not a.home and not getattr(a, "keep", False):
            shutil.rmtree(home, ignore_errors=True)

"""Notifications of failed cycles and held deletions, to real receivers on 127.0.0.1: a webhook, an SMTP server
(aiosmtpd, STARTTLS with its own certificate, AUTH), a command; settings are checked and recorded."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.errors import BadInput
from console.models import Group, Policy
from console.service import Service
from console.store import Store

WEBHOOK_TOKEN = "whk-9f8e7d6c5b4a-token"
SMTP_PASSWORD = "smtp-pa55-Secret-value"


class Webhook:
    """A receiver on 127.0.0.1 that keeps every POST (headers and JSON body)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"headers": dict(self.headers), "body": json.loads(body), "raw": body.decode()})
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Any, list[Any], Path]]:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS (a self-signed certificate for 127.0.0.1) and AUTH."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            messages.append(envelope)
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"robot" and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    with socket.socket() as probe:  # aiosmtpd checks its own port when it starts: give it a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    try:
        yield controller, messages, cert
    finally:
        controller.stop()


@pytest.fixture
def svc(bb_store: Store, graph_app, monkeypatch: pytest.MonkeyPatch) -> Service:
    bb_store.applications.put(graph_app)
    bb_store.groups.put(Group(name="everyone", rule='source == "bb"'))  # a rule group: the workspace's people
    bb_store.policies.put(Policy(name="m365-everyone", app="m365", groups=["everyone"], login_method="password"))
    bb_store.flush()
    monkeypatch.setenv("IDC_TEST_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
    monkeypatch.setenv("IDC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    return Service(bb_store, operator="notify-test")


async def test_held_deletions_are_posted_to_the_webhook_without_a_password_or_a_secret(svc, webhook, graph_sandbox,
                                                                                     bb_sandbox):
    svc.set_automation({"notify": "webhook", "webhook_url": webhook.url, "webhook_token": "env:IDC_TEST_WEBHOOK_TOKEN"})
    first = await svc.run_cycle()
    assert first.outcome == "success" and webhook.received == []  # by default only failures and held deletions
    bb_sandbox.state.remove_member("557058:aa06")
    report = await svc.run_cycle()
    assert report.outcome == "held" and report.notified == ["webhook: sent"]
    (post,) = webhook.received
    assert post["headers"]["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    body = post["body"]
    assert body["outcome"] == "held" and body["held"][0]["people"] == ["dan"] and body["held"][0]["app"] == "m365"
    assert "HELD 1 deprovision(s) in m365" in body["summary"]
    passwords = [line.split("\t")[-1] for line in (svc.home / "initial-passwords").read_text().splitlines()]
    assert len(passwords) == 6 and not any(p in post["raw"] for p in passwords) and WEBHOOK_TOKEN not in post["raw"]
    (event,) = svc.store.events.query(action="notify")
    assert event.message == "webhook: sent" and event.run == next(r.id for r in svc.store.runs if r.kind == "cycle"
                                                                  and r.status == "held")


async def test_a_failed_cycle_is_mailed_through_starttls_with_auth(svc, smtp_server, monkeypatch):
    controller, messages, cert = smtp_server
    svc.set_automation({"notify": "smtp", "smtp_host": "127.0.0.1", "smtp_port": str(controller.port),
                        "smtp_from": "idconsole@example.com", "smtp_to": "ops@example.com,idm@example.com",
                        "smtp_user": "robot", "smtp_password": "env:IDC_TEST_SMTP_PASSWORD", "smtp_ca_file": str(cert)})
    monkeypatch.setenv("BB_TEST_SECRET", "wrong-secret")
    report = await svc.run_cycle()
    assert report.outcome == "failure" and report.notified == ["smtp: sent"], report.notified
    (envelope,) = messages
    assert envelope.rcpt_tos == ["ops@example.com", "idm@example.com"]
    text = envelope.content.decode()
    assert "Subject: idconsole cycle on" in text and ": failure" in text and "import bb: failure" in text
    assert SMTP_PASSWORD not in text and "wrong-secret" not in text


async def test_a_command_gets_the_summary_on_stdin(svc, tmp_path: Path, monkeypatch):
    out = tmp_path / "notified.txt"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read())"
    svc.set_automation({"notify": "command", "command": json.dumps([sys.executable, "-c", script])})
    monkeypatch.setenv("BB_TEST_SECRET", "wrong-secret")
    report = await svc.run_cycle()
    assert report.notified == ["command: sent"]
    assert out.read_text().startswith(f"idconsole cycle {report.run_id[:8]}: failure")


async def test_a_notification_that_fails_is_recorded_and_does_not_fail_the_cycle_twice(svc, monkeypatch):
    svc.set_automation({"notify": "webhook,command", "webhook_url": "http://127.0.0.1:9/nothing-listens",
                        "command": "/nonexistent/notify-ops"})
    monkeypatch.setenv("BB_TEST_SECRET", "wrong-secret")
    report = await svc.run_cycle()
    assert report.outcome == "failure"
    assert [n.split(":")[0] + ": " + n.split(": ")[1] for n in report.notified] == ["webhook: failed", "command: failed"]
    assert {e.status for e in svc.store.events.query(action="notify")} == {"failure"}


def test_notification_settings_are_checked_and_recorded(svc):
    with pytest.raises(BadInput, match="unencrypted"):
        svc.set_automation({"webhook_url": "http://hooks.example.com/x"})
    with pytest.raises(BadInput, match="not a secret reference"):
        svc.set_automation({"webhook_token": "plain-token-pasted-here-1234567890abc"})
    with pytest.raises(BadInput, match="needs webhook_url"):
        svc.set_automation({"notify": "webhook"})
    with pytest.raises(BadInput, match="unencrypted"):
        svc.set_automation({"notify": "smtp", "smtp_host": "mail.example.com", "smtp_tls": "none",
                            "smtp_from": "a@example.com", "smtp_to": "b@example.com"})
    with pytest.raises(BadInput, match="no setting"):
        svc.set_automation({"colour": "blue"})
    settings = svc.set_automation({"notify": "webhook", "webhook_url": "https://hooks.example.com/idconsole",
                                   "notify_on": "failures,held"})
    assert settings.notify == ["webhook"] and settings.notify_on == ["failure", "held"]
    (event,) = svc.store.events.query(action="automation_set")
    assert event.changes["webhook_url"] == ["", "https://hooks.example.com/idconsole"]
    assert Service(Store.open(svc.home, readonly=True)).automation_settings().webhook_url.startswith("https://")

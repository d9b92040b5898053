"""Notifications of failed cycles and held deletions: a webhook (HTTP POST of JSON, TLS unless loopback), an e-mail
through SMTP (STARTTLS or TLS), or a command (argv, the summary on stdin). Every send is bounded in time; what is
sent is the cycle's summary, redacted of every secret the settings reference — never a password."""
from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.automation.cycle import CycleReport
from console.automation.settings import AutomationSettings, is_loopback
from console.errors import ConfigError, IdConsoleError
from console.redact import redact, redact_tree
from console.secrets import resolve

TIMEOUT = 15.0


def payload(report: CycleReport, home: Path) -> dict[str, Any]:
    """The JSON a webhook receives: the outcome, counts, failures and what is held (people's names, no secret)."""
    return {"product": "idconsole", "host": socket.gethostname(), "home": str(home), "run": report.run_id,
            "outcome": report.outcome, "started": report.started, "finished": report.finished,
            "summary": report.summary(), "stopped": report.stopped, "counts": report.counts,
            "sources": [{"app": s.app, "status": s.status, "error": s.error} for s in report.sources],
            "failures": report.failures, "held": [{"app": h.app, "kind": h.kind, "count": h.count,
                                                   "people": h.people, "reason": h.reason} for h in report.held]}


def _secrets(settings: AutomationSettings) -> list[str]:
    values = []
    for key in AutomationSettings.SECRET_KEYS:
        ref = getattr(settings, key)
        if ref:
            try:
                values.append(resolve(ref))
            except IdConsoleError:
                pass
    return values


def _clean(text: str, secrets: Iterable[str]) -> str:
    return redact(text, list(secrets), limit=20000)


def send_webhook(settings: AutomationSettings, body: dict[str, Any]) -> None:
    parts = urlsplit(settings.webhook_url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise ConfigError(f"webhook_url {parts.hostname} is not https", hint="use https:// (http only on 127.0.0.1)")
    headers = {"User-Agent": "idconsole-automation"}
    if settings.webhook_token:
        headers["Authorization"] = f"Bearer {resolve(settings.webhook_token)}"
    try:
        response = httpx.post(settings.webhook_url, json=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ConfigError(f"the webhook {parts.hostname} could not be reached", detail=type(exc).__name__,
                          hint="check webhook_url and the network") from None
    if response.status_code >= 300:
        raise ConfigError(f"the webhook {parts.hostname} answered HTTP {response.status_code}",
                          hint="check webhook_url and webhook_token")


def send_mail(settings: AutomationSettings, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message["Subject"] = subject
    message.set_content(text)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    host, port = settings.smtp_host, settings.smtp_port
    if settings.smtp_tls == "none" and not is_loopback(host):
        raise ConfigError(f"smtp_tls=none to {host}", hint="use starttls or ssl; none only for a relay on 127.0.0.1")
    try:
        if settings.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT)
        with client:
            if settings.smtp_tls == "starttls":
                client.starttls(context=context)
            if settings.smtp_user:
                client.login(settings.smtp_user, resolve(settings.smtp_password) if settings.smtp_password else "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise ConfigError(f"the mail to {', '.join(settings.smtp_to)} through {host}:{port} was not sent",
                          detail=type(exc).__name__ + (f": {exc.smtp_code}" if hasattr(exc, "smtp_code") else ""),
                          hint="check smtp_host, smtp_port, smtp_tls and the credentials") from None


def run_command(settings: AutomationSettings, text: str) -> None:
    try:
        proc = subprocess.run(settings.command, input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT,
                              check=False, close_fds=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"the notification command {settings.command[0]} could not run", detail=type(exc).__name__,
                          hint="check the command setting (an argv list, e.g. /usr/local/bin/page-ops --team idm)") from None
    if proc.returncode != 0:
        raise ConfigError(f"the notification command {settings.command[0]} exited {proc.returncode}")


def notify(settings: AutomationSettings, report: CycleReport, home: Path,
           extra_secrets: Iterable[str] = ()) -> list[str]:
    """Send the report through every configured way; one line per way: `webhook: sent` or `smtp: failed: …`."""
    secrets = [*_secrets(settings), *extra_secrets]
    text = _clean(report.summary(), secrets)
    body = redact_tree(payload(report, home), secrets) | {"summary": text}
    subject = f"idconsole cycle on {socket.gethostname()}: {report.outcome}" + (
        f", {sum(h.count for h in report.held)} held" if report.held else "")
    results = []
    for kind in settings.notify:
        try:
            if kind == "webhook":
                send_webhook(settings, body)
            elif kind == "smtp":
                send_mail(settings, subject, text)
            elif kind == "command":
                run_command(settings, text)
            results.append(f"{kind}: sent")
        except IdConsoleError as exc:
            results.append(f"{kind}: failed: {_clean(exc.title, secrets)}")
    return results

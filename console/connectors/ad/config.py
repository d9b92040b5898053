"""Settings of an `ad` application, their validation, operator warnings and the pure person → AD mapping."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.connectors import tls
from console.connectors.base import Setting
from console.connectors.retry import SETTINGS as RETRY_SETTINGS
from console.errors import ConfigError
from console.connectors.value_limits import ValueLimits, max_length, required
from console.models import Application, User

from . import names as ad_names

SETTINGS: list[Setting] = [
    Setting("url", "LDAP URL", required=True, default="ldaps://", carries_secrets=True,
            help="ldaps://dc1.corp.example:636 (default), or ldap://…:389 with start_tls"),
    Setting("bind_user", "Bind user", required=True, help="svc-idconsole@corp.example, CORP\\svc-idconsole or a DN"),
    Setting("password", "Bind password", required=True, secret=True, help="env:VAR or keyring:idconsole/NAME"),
    Setting("base_dn", "Base DN", required=True, help="DC=corp,DC=example"),
    Setting("users_ou", "OU for new users", required=True, help="OU=Staff (relative to the base DN) or a full DN"),
    Setting("disabled_ou", "OU for disabled users", help="deactivated accounts move here; empty: they stay"),
    Setting("groups_ou", "OU for groups", help="default: the users OU"),
    Setting("upn_suffix", "UPN suffix", help="default: the base DN as a domain (corp.example)"),
    Setting("mail_domain", "Mail domain", help="primary SMTP domain for mail and proxyAddresses"),
    Setting("ca_file", "CA file", help="PEM file of the CA that issued the DC's certificate"),
    Setting("verify_tls", "Verify TLS certificate", default=True, kind="bool",
            help="turning this off is insecure and always shown as a warning"),
    Setting("start_tls", "Use StartTLS", default=False, kind="bool", help="for ldap:// URLs (port 389)"),
    Setting("sam_format", "sAMAccountName format", default=ad_names.DEFAULT_SAM_FORMAT,
            help="tokens {first} {last} {f} {l} {userName} {employeeId}; ≤ 20 chars, made unique as jdoe, jdoe2, …"),
    Setting("password_file", "Initial password file",
            help="initial passwords are appended here (mode 0600); empty: they are discarded"),
    *RETRY_SETTINGS,
    tls.SETTING,
]


@dataclass(frozen=True)
class ADConfig:
    """Validated settings: full DNs for every OU, parsed URL, booleans as booleans."""

    host: str
    port: int
    use_ssl: bool
    start_tls: bool
    verify_tls: bool
    ca_file: str
    bind_user: str
    password_ref: str
    base_dn: str
    users_ou: str
    disabled_ou: str
    groups_ou: str
    upn_suffix: str
    mail_domain: str
    sam_format: str
    password_file: str
    timeout: float

    @property
    def encrypted(self) -> bool:
        return self.use_ssl or self.start_tls

    @property
    def managed_ous(self) -> list[str]:
        return [ou for ou in dict.fromkeys([self.users_ou, self.disabled_ou]) if ou]


def _bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_config(app: Application) -> ADConfig:
    """ADConfig from an application, or ConfigError saying which setting is wrong and how to fix it."""
    s = app.settings
    missing = [name for name in ("url", "bind_user", "base_dn", "users_ou") if not str(s.get(name) or "").strip()]
    if missing:
        raise ConfigError(f"{app.name}: missing AD settings {', '.join(missing)}",
                          hint=f"idconsole apps set {app.name} KEY=VALUE")
    if not app.secrets.get("password"):
        raise ConfigError(f"{app.name}: no bind password reference", hint="add one with --password-env VAR")
    url = urlsplit(str(s["url"]).strip())
    if url.scheme not in ("ldap", "ldaps") or not url.hostname:
        raise ConfigError(f"{app.name}: url {s['url']!r} is not an LDAP URL",
                          hint="use ldaps://HOST:636, or ldap://HOST:389 with start_tls")
    start_tls = _bool(s.get("start_tls"), False)
    if start_tls and url.scheme == "ldaps":
        raise ConfigError(f"{app.name}: start_tls needs an ldap:// URL",
                          hint="ldaps:// is already encrypted; drop start_tls")
    base_dn = str(s["base_dn"]).strip()
    users_ou = ad_names.ou_dn(str(s["users_ou"]), base_dn)
    ca_file = str(s.get("ca_file") or "")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"{app.name}: ca_file {ca_file} does not exist",
                          hint="give the PEM file of the CA that issued the DC's certificate")
    try:
        timeout = float(s.get("timeout") or 30)
    except (TypeError, ValueError):
        raise ConfigError(f"{app.name}: timeout {s.get('timeout')!r} is not a number of seconds") from None
    return ADConfig(
        host=url.hostname, port=url.port or (636 if url.scheme == "ldaps" else 389), use_ssl=url.scheme == "ldaps",
        start_tls=start_tls, verify_tls=_bool(s.get("verify_tls"), True), ca_file=ca_file,
        bind_user=str(s["bind_user"]), password_ref=app.secrets["password"], base_dn=base_dn, users_ou=users_ou,
        disabled_ou=ad_names.ou_dn(str(s.get("disabled_ou") or ""), base_dn),
        groups_ou=ad_names.ou_dn(str(s.get("groups_ou") or ""), base_dn) or users_ou,
        upn_suffix=str(s.get("upn_suffix") or ad_names.domain_of(base_dn)).lstrip("@"),
        mail_domain=str(s.get("mail_domain") or "").lstrip("@"),
        sam_format=ad_names.check_sam_format(str(s.get("sam_format") or ad_names.DEFAULT_SAM_FORMAT)),
        password_file=str(s.get("password_file") or ""), timeout=timeout,
    )


def warnings(app: Application) -> list[str]:
    """What an operator must know about this application's security before trusting it."""
    s = app.settings
    notes = []
    if not _bool(s.get("verify_tls"), True):
        notes.append("TLS certificate verification is OFF (verify_tls=False): a man in the middle can read the bind "
                     "password and initial passwords — give ca_file instead")
    if str(s.get("url") or "").lower().startswith("ldap://") and not _bool(s.get("start_tls"), False):
        notes.append("plain ldap:// without start_tls: the bind password travels in clear and the DC refuses password "
                     "writes — use ldaps:// or start_tls")
    if not s.get("password_file"):
        notes.append("no password_file: initial passwords are shown once to the operator at the end of each sync")
    if not s.get("disabled_ou"):
        notes.append("no disabled_ou: deactivated accounts stay in the users OU")
    return notes


# The AD schema's rangeUpper of each attribute the connector writes (learn.microsoft.com/windows/win32/adschema);
# sAMAccountName's 20 is the SAM API's limit (rangeUpper says 256). The DC answers constraintViolation or
# invalidAttributeSyntax to a longer value (Samba: employeeID > 16).
RANGE_UPPER = {"sAMAccountName": 20, "cn": 64, "givenName": 64, "sn": 64, "displayName": 256, "department": 64,
               "title": 128, "mail": 256, "employeeID": 16, "userPrincipalName": 1024}
VALUE_LIMITS = ValueLimits("Active Directory", (
    required("sAMAccountName", "AD"), required("cn", "AD: the RDN"),
    *(max_length(name, limit, "SAM API" if name == "sAMAccountName" else "AD schema rangeUpper")
      for name, limit in RANGE_UPPER.items()),
))


# Bump whenever `account_attributes` would give other attributes for the same person and settings (see Connector).
ATTRIBUTES_VERSION = "1"


def account_attributes(user: User, cfg: ADConfig) -> dict[str, Any]:
    """Pure: a person's AD attributes (flat AD attribute names; "" means the attribute is cleared)."""
    sam = ad_names.sam_proposal(user.givenName, user.familyName, user.userName, user.target_employee_id(), cfg.sam_format)
    local = ad_names.upn_local(user.userName, sam)
    display = user.displayName or f"{user.givenName} {user.familyName}".strip() or user.userName
    emails = [e.strip() for e in user.emails if e and e.strip()]
    if cfg.mail_domain:
        ours = [e for e in emails if e.lower().endswith("@" + cfg.mail_domain.lower())]
        primary, secondary = (ours[0], ours[1:]) if ours else (f"{local}@{cfg.mail_domain}", [])
    else:
        primary, secondary = (emails[0] if emails else ""), []
    proxies = ([f"SMTP:{primary}"] + [f"smtp:{addr}" for addr in secondary]) if primary else []
    return {
        "sAMAccountName": sam,
        "userPrincipalName": f"{local}@{cfg.upn_suffix}",
        "cn": ad_names.common_name(display, sam),
        "displayName": display,
        "givenName": user.givenName,
        "sn": user.familyName,
        "mail": primary,
        "proxyAddresses": proxies,
        "department": user.department,
        "title": user.title,
        "employeeID": user.target_employee_id(),
    }

"""Pure naming rules for Active Directory: logon names, UPNs, CNs, DNs, GUIDs, initial passwords.

sAMAccountName: built from `sam_format` (default `{f}{last}`: first initial + family name) over
ASCII-folded parts (Unicode NFKD, marks dropped, plus a small table for letters NFKD does not split:
ß→ss, æ→ae, ø→o, ł→l, đ→d, þ→th, œ→oe, ı→i, ...), lower case, only `a-z 0-9 . _ -`, at most 20
characters; clashes iterate jdoe, jdoe2, jdoe3, … (the suffix replaces the tail, never exceeds 20).
Names with no Latin letters (李小龙, Ελένη, Иван) cannot be folded: when a part the format needs folds
to nothing, the logon name falls back to `u` + the ASCII-folded employee id (`u10042`), or to `u` +
8 hex digits of a hash of the userName when the id has no ASCII either — stable and always valid.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from ldap3.utils.conv import escape_bytes
from ldap3.utils.dn import escape_rdn

from console.errors import BadInput, ConfigError
from console.text import ascii_fold
from console.text import generate_password as generate_password  # re-exported for the AD modules

SAM_MAX = 20
CN_MAX = 64
DEFAULT_SAM_FORMAT = "{f}{last}"
SAM_TOKENS = ("first", "last", "f", "l", "userName", "employeeId")

ACCOUNTDISABLE = 0x2
PASSWD_NOTREQD = 0x20
NORMAL_ACCOUNT = 0x200
GLOBAL_SECURITY_GROUP = -2147483646  # ADS_GROUP_TYPE_GLOBAL_GROUP | ADS_GROUP_TYPE_SECURITY_ENABLED

_SAM_CHARS = re.compile(r"[^a-z0-9._-]+")
_UPN_CHARS = re.compile(r"[^a-z0-9._'-]+")
_GROUP_SAM_FORBIDDEN = re.compile(r'["/\\\[\]:;|=,+*?<>@\x00-\x1f]+')


def _sam_part(text: str) -> str:
    return _SAM_CHARS.sub("", ascii_fold(text).lower())


def check_sam_format(fmt: str) -> str:
    """The format if every `{token}` is known, else a ConfigError naming the allowed tokens."""
    used = set(re.findall(r"{([^{}]*)}", fmt))
    unknown = used - set(SAM_TOKENS)
    if unknown or not used:
        raise ConfigError(f"sam_format {fmt!r} uses unknown tokens {sorted(unknown)}" if unknown
                          else f"sam_format {fmt!r} uses no token",
                          hint="use {first}, {last}, {f} (first initial), {l}, {userName}, {employeeId}, "
                               "e.g. {f}{last}")
    return fmt


def fallback_sam(employee_id: str, user_name: str) -> str:
    """`u` + the folded employee id, else `u` + a hash of the userName: valid whatever the script."""
    folded = _sam_part(employee_id).strip("._-")
    if folded:
        return ("u" + folded)[:SAM_MAX]
    return "u" + hashlib.sha256((user_name or employee_id).encode()).hexdigest()[:8]


def sam_proposal(given: str, family: str, user_name: str, employee_id: str, fmt: str = DEFAULT_SAM_FORMAT) -> str:
    """The preferred sAMAccountName for a person (before uniqueness iteration)."""
    first, last = _sam_part(given), _sam_part(family)
    parts = {"first": first, "last": last, "f": first[:1], "l": last[:1],
             "userName": _sam_part(user_name.split("@", 1)[0]), "employeeId": _sam_part(employee_id)}
    used = set(re.findall(r"{([^{}]*)}", check_sam_format(fmt)))
    if any(not parts[token] for token in used):
        return fallback_sam(employee_id, user_name)
    sam = _SAM_CHARS.sub("", fmt.format_map(parts).lower())[:SAM_MAX].strip(".-")
    return sam if len(sam) >= 2 else fallback_sam(employee_id, user_name)


def sam_candidate(base: str, n: int) -> str:
    """The n-th candidate: jdoe (n=1), jdoe2, jdoe3, …, always ≤ 20 characters, never ending in '.'."""
    if n <= 1:
        return base[:SAM_MAX].rstrip(".")
    suffix = str(n)
    return base[: SAM_MAX - len(suffix)].rstrip(".") + suffix


def upn_local(user_name: str, fallback: str) -> str:
    """UPN prefix from the userName (the part before any '@'), folded to ASCII; `fallback` if nothing is left."""
    local = _UPN_CHARS.sub("", ascii_fold(user_name.split("@", 1)[0]).lower()).strip(".")
    return local or fallback


def group_sam(name: str) -> str:
    """A group's sAMAccountName: the name without the characters AD forbids, ≤ 64 characters."""
    cleaned = _GROUP_SAM_FORBIDDEN.sub("", ascii_fold(name)).strip(" .")
    return cleaned[:64].rstrip(" .") or "g" + hashlib.sha256(name.encode()).hexdigest()[:8]


def common_name(display: str, fallback: str) -> str:
    """The CN (RDN value) for a display name: control characters removed, at most 64 characters."""
    cleaned = "".join(ch for ch in display if unicodedata.category(ch) != "Cc")[:CN_MAX]
    return cleaned if cleaned.strip() else fallback


def rdn(cn: str) -> str:
    """`CN=<escaped>`: every value that goes into a DN passes through ldap3's escape_rdn."""
    if not cn:
        raise BadInput("an empty name cannot be a CN")
    return f"CN={escape_rdn(cn)}"


def split_dn(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN) of an escaped DN, honouring backslash escapes."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return dn[:i], dn[i + 1 :]
        i += 1
    return dn, ""


def _norm_dn(dn: str) -> str:
    return re.sub(r"\s*,\s*", ",", dn.strip()).lower()


def same_dn(a: str, b: str) -> bool:
    """Loose DN equality (case, spaces around commas): enough to compare the OUs we configure."""
    return _norm_dn(a) == _norm_dn(b)


def ou_dn(ou: str, base_dn: str) -> str:
    """An OU setting as a full DN: `OU=Staff` is taken relative to the base DN."""
    ou = (ou or "").strip()
    if not ou:
        return ""
    if _norm_dn(ou).endswith(_norm_dn(base_dn)):
        return ou
    return f"{ou},{base_dn}"


def domain_of(base_dn: str) -> str:
    """`DC=corp,DC=example` → `corp.example` (the default UPN suffix)."""
    return ".".join(value for key, value in (part.split("=", 1) for part in base_dn.split(",") if "=" in part)
                    if key.strip().lower() == "dc")


def guid_from_bytes(raw: bytes) -> str:
    """objectGUID as stored (little-endian bytes) → canonical string, the uid everything links by."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def normalize_guid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip().strip("{}")))
    except (ValueError, AttributeError):
        raise BadInput(f"{text!r} is not an objectGUID", hint="AD accounts are linked by objectGUID") from None


def guid_dn(guid: str) -> str:
    """The `<GUID=…>` form AD and Samba accept as a search base."""
    return f"<GUID={normalize_guid(guid)}>"


def guid_filter(guid: str) -> str:
    return f"(objectGUID={escape_bytes(uuid.UUID(normalize_guid(guid)).bytes_le)})"


def parse_extended_dn(value: str) -> tuple[str, str]:
    """`<GUID=g>;<SID=s>;CN=x,…` (extended DN control) → (guid, dn)."""
    guid, rest = "", value
    while rest.startswith("<"):
        head, _, rest = rest.partition(">")
        key, _, val = head[1:].partition("=")
        if key.upper() == "GUID":
            guid = normalize_guid(val)
        rest = rest[1:] if rest.startswith(";") else rest
    return guid, rest


def merge_proxy_addresses(current: list[str], desired: list[str]) -> list[str]:
    """New proxyAddresses: the desired SMTP addresses (first is primary `SMTP:`), former SMTP addresses
    kept as secondary `smtp:` (mail to old addresses still arrives), other types (x500:, sip:) untouched."""
    result: list[str] = []
    seen: set[str] = set()

    def add(kind: str, address: str) -> None:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            result.append(f"{kind}:{address}")

    for index, value in enumerate(desired):
        add("SMTP" if index == 0 else "smtp", value.split(":", 1)[1] if ":" in value else value)
    for value in current:
        kind, _, address = value.partition(":")
        if kind.lower() == "smtp":
            add("smtp", address)
    result += [value for value in current if value.partition(":")[0].lower() != "smtp"]
    return result

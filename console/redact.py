"""The one redaction point for text that comes from a target (error bodies, messages, test results, names).

`redact` removes the application's known secret values (also URL- and base64-encoded forms), bearer and
basic credentials and `token=`/`secret=`-style pairs, neutralises control characters and bounds the length,
so that what a target echoes never reaches an exception, a `ConnectionReport`, the state or the report.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "•••"
LIMIT = 500
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic|negotiate|ntlm)(\s+|%20|\+)[A-Za-z0-9._~+/=%-]{4,}")
_PAIRS = re.compile(r"(?i)(\"?(?:access_token|refresh_token|id_token|client_secret|api_token|apikey|api_key|password"
                    r"|passwd|secret|token|authorization)\"?\s*[:=]\s*\"?)[^\s\"&,;<>}]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _forms(secret: str) -> list[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(secret.encode()).decode()}
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def redact(text: object, secrets: Iterable[str] = (), *, limit: int = LIMIT) -> str:
    """`text` without secrets or credentials, control characters replaced, at most `limit` characters."""
    out = str(text if text is not None else "")
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for form in _forms(secret):
            out = out.replace(form, MASK)
    out = _CREDENTIALS.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _PAIRS.sub(lambda m: f"{m.group(1)}{MASK}", out)
    out = _CONTROL.sub("?", out)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def redact_tree(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Every string inside `value` (dicts, lists, tuples) passed through `redact`."""
    secrets = list(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, secrets) for v in value]
    return value

"""Small text and protocol helpers shared by connectors and the inbound mapping."""
from __future__ import annotations

import re
import secrets
import string
import time
import unicodedata
from email.utils import parsedate_to_datetime
from collections.abc import Mapping
from typing import Protocol

_FOLD = str.maketrans({
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
    "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "œ": "oe", "Œ": "OE", "ı": "i", "ħ": "h", "Ħ": "H",
    "ŋ": "n", "Ŋ": "N", "ŧ": "t", "Ŧ": "T", "ĸ": "q", "ſ": "s",
})
PASSWORD_SYMBOLS = "!#%+-=?@_~"


def ascii_fold(text: str) -> str:
    """Latin text to plain ASCII (Zoë Łukasiewicz → Zoe Lukasiewicz); letters of other scripts are dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(ch for ch in decomposed if ord(ch) < 128 and not unicodedata.combining(ch))


def generate_password(avoid: list[str] | None = None, length: int = 20) -> str:
    """A random initial password with all four character classes (AD and Entra ID complexity), not starting
    with a symbol (some sign-in forms and shells trip on it) and holding no 3+ letter token of `avoid`
    (AD refuses passwords that contain parts of the account's names)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSWORD_SYMBOLS)
    alphabet = "".join(classes)
    tokens = [t.lower() for text in avoid or [] for t in re.split(r"[,.\-_#\s\t]+", text or "") if len(t) >= 3]
    rng = secrets.SystemRandom()
    while True:
        chars = [secrets.choice(c) for c in classes] + [secrets.choice(alphabet) for _ in range(length - len(classes))]
        rng.shuffle(chars)
        password = "".join(chars)
        if password[0] not in PASSWORD_SYMBOLS and not any(token in password.lower() for token in tokens):
            return password


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after_seconds(response: _HasHeaders) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), None when absent or bad."""
    value = str(response.headers.get("Retry-After", "") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None

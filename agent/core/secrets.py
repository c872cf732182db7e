"""Keeping secrets out of everything we write or show: traces, logs, history, caches, tool output and errors.

:func:`redact` removes the secrets we were given (API keys, credentials in URLs) and every value that looks like
one: OpenAI/Anthropic-style keys, AWS access keys, GitHub and Slack tokens, Google API keys, JWTs, bearer and
basic credentials, passwords in URLs, private key blocks, and ``password=…``/``"api_key": "…"`` style pairs.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]+")
_BASIC = re.compile(r"\b(Basic\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}")  # base64, not prose
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:@'\"<>]*:)[^\s/@'\"<>]+@")
_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|$)", re.DOTALL)
# Well-known token shapes: each is a secret wherever it appears.
_TOKENS = re.compile(
    "|".join(
        (
            r"\bsk-[A-Za-z0-9_\-]{8,}",  # OpenAI, Anthropic (sk-ant-…), DeepSeek, many proxies
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}",  # Stripe
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
            r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
            r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API keys
            r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
        )
    )
)
# key = value, key: value, "key": "value" where the key names a secret (not ``prompt_tokens``: no letter may
# follow the secret word).
_SECRET_KEY = (
    r"(?:password|passwd|passphrase|pwd|secret|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|"
    r"client[_\-]?secret|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|session[_\-]?token|token|credentials?)"
)
_PAIR = re.compile(
    rf"(?i)(\b[A-Za-z0-9_.\-]*{_SECRET_KEY}(?![A-Za-z])[\"']?\s*[:=]\s*)([\"']?)(?!\*\*\*)([^\s\"',;&<>]{{3,}})"
)

_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-looking value replaced by ``***``."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group(1)}-----{MASK}-----END {m.group(1)}-----", text)
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    text = _BASIC.sub(rf"\1{MASK}", text)
    text = _TOKENS.sub(MASK, text)
    return _PAIR.sub(rf"\1\2{MASK}", text)


def redact_value(value: Any) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value (tool outputs, arguments)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value

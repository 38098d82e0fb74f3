"""Keeps secrets out of the retained log and out of the archives sent to the CSMS: passwords in
URLs, the AuthorizationKey, private keys. Log lines are free text, so this is pattern work; the
configuration is structured, so there it goes by key name."""
from __future__ import annotations

import re
from typing import Any

MASK = "***"

_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]*@")
_SECRET_WORDS = r"authorizationkey|authorization_key|password|passwd|secret|private_?key|api_?key"
_NAMED_VALUE = re.compile(
    rf"(?i)(\b(?:{_SECRET_WORDS})\b[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}}]+)")
_CONFIG_PAIR = re.compile(
    rf"(?i)([\"']key[\"']\s*:\s*[\"'](?:{_SECRET_WORDS})[\"']\s*,\s*(?:[\"']readonly[\"']\s*:\s*\w+\s*,\s*)?"
    r"[\"']value[\"']\s*:\s*[\"'])([^\"']*)")
_PEM_PRIVATE = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S)
_SECRET_NAME = re.compile(rf"(?i)(?:{_SECRET_WORDS})")


def redact_text(text: str) -> str:
    """The text with every secret this module recognises replaced by ***."""
    text = _PEM_PRIVATE.sub("[private key removed]", text)
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    text = _CONFIG_PAIR.sub(rf"\1{MASK}", text)
    return _NAMED_VALUE.sub(rf"\1{MASK}", text)


def redact_url(url: str) -> str:
    """A URL fit for a log line: the password of its userinfo masked."""
    return _URL_PASSWORD.sub(rf"\1{MASK}@", url)


def is_secret_name(name: str) -> bool:
    """Configuration keys whose values are secrets (AuthorizationKey, *password*, *secret*...);
    a key naming where a secret is kept (password_file) is not one itself."""
    if name.lower().endswith(("file", "path")):
        return False
    return bool(_SECRET_NAME.search(name.replace(" ", "")))


def redact_tree(value: Any, key: str = "") -> Any:
    """A JSON-like tree with the values of secret-named keys masked and every string redacted."""
    if isinstance(value, dict):
        return {k: redact_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, key) for v in value]
    if key and is_secret_name(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    return value

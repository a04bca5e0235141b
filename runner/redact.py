"""Secrets never reach the store: config values under secret-looking keys, and secret env vars.

`redact_config` masks values whose key matches token / password / secret / api_key and
remembers them; `redact_text` then masks every remembered value (and the secret environment
variables) wherever it appears — params, tags, config.yaml, tables, error messages.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(r"(token|password|passwd|secret|api[_-]?key)", re.IGNORECASE)
SECRET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
)
# Keys that match SECRET_KEY but hold no secret (token counts and special tokens).
NOT_SECRET = re.compile(r"(max_.*token|tokens?_|.*_tokens?$|tokenizer|special)", re.IGNORECASE)

_known: set[str] = set()


def _secrets() -> set[str]:
    env = {os.environ[v] for v in SECRET_ENV if os.environ.get(v)}
    return {s for s in _known | env if len(s) >= 4}


def is_secret_key(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return bool(SECRET_KEY.search(last)) and not NOT_SECRET.fullmatch(last)


def redact_config(obj: Any, path: str = "") -> Any:
    """A copy of a nested dict/list with secret-keyed values masked (and remembered)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = f"{path}.{k}" if path else str(k)
            if is_secret_key(str(k)) and isinstance(v, (str, int, float)) and v not in ("", None):
                _known.add(str(v))
                out[k] = MASK
            else:
                out[k] = redact_config(v, key)
        return out
    if isinstance(obj, list):
        return [redact_config(v, path) for v in obj]
    return redact_text(obj) if isinstance(obj, str) else obj


def redact_text(text: str) -> str:
    for secret in sorted(_secrets(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text

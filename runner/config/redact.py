"""Secrets never reach the store: config values under secret-looking keys, and secret env vars.

`redact_config` masks values whose key names a secret (`is_secret_key`) and remembers them;
`redact_text` then masks every remembered value (and the secret environment
variables) wherever it appears — params, tags, config.yaml, tables, error messages.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "***"
# A key is secret when its last segment (split on _ and -) ends in one of these words, or it
# ends in one of the two-segment names below: hf_token, access_token, use_auth_token, api_key,
# db_password, client_secret, aws_secret_access_key, storage_options.auth, credentials.
SECRET_WORDS = (
    "token",
    "password",
    "passwd",
    "secret",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "apikey",
)
SECRET_PAIRS = ("api_key", "access_key", "secret_key", "private_key", "api-key")
SECRET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
)
# Tokenizer options that end in "token" but hold no secret: special-token names (bos_token,
# pad_token, …, additional_special_token) and token counts (max_token, num_token).
NOT_SECRET = re.compile(
    r"(bos|eos|unk|sep|pad|cls|mask|additional_special|special|sos|start|end)_token|(max|min|num|n)_\w*token",
    re.IGNORECASE,
)

# Secret values seen in any config of this process. Deliberately process-wide, not a Session's:
# a token given to one run stays masked in everything the process writes afterwards (another
# run's error message, a traceback), whichever Session writes it.
_known: set[str] = set()


def _secrets() -> set[str]:
    env = {os.environ[v] for v in SECRET_ENV if os.environ.get(v)}
    return {s for s in _known | env if len(s) >= 4}


def is_secret_key(key: str) -> bool:
    """`hf_token`, `use_auth_token`, `api_key`, `password` are; `token_id`, `tokens`,
    `max_tokens`, `pad_token`, `tokenizer` are not (the rule works on whole key segments)."""
    last = key.rsplit(".", 1)[-1].lower()
    if NOT_SECRET.fullmatch(last):
        return False
    segment = re.split(r"[_-]", last)[-1]
    return segment.endswith(SECRET_WORDS) or last.endswith(SECRET_PAIRS)


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

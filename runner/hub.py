"""Where a name_or_path points: a local folder (checked before any library sees it) or a hub id
(the hub probed once, with a short timeout, instead of waiting through the libraries' retries).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runner import reach
from runner.errors import ModelError

WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack", "*.gguf")


def offline(datasets: bool = False) -> bool:
    """HF_HUB_OFFLINE (and, for datasets, HF_DATASETS_OFFLINE) says: local files and cache only."""
    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if datasets else ("HF_HUB_OFFLINE",)
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in names)


def looks_local(value: str) -> bool:
    """A path, not a hub id: starts like one (./, ../, /, ~) or names an existing folder."""
    return value.startswith((".", "/", "~", "\\")) or Path(value).expanduser().exists()


def check_source(key: str, value: str, weights: bool, reachable: Callable[[], bool] | None = None) -> None:
    """Fail with one line before loading: a missing folder, a tokenizer folder used as a model,
    or a hub id while the hub cannot be reached."""
    if looks_local(value):
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise ModelError(
                f"{key}={value}", "this folder does not exist", "check the path (relative to where you run)"
            )
        if weights and not any(next(folder.glob(p), None) for p in WEIGHTS):
            if (folder / "tokenizer_config.json").exists() or (folder / "tokenizer.json").exists():
                raise ModelError(
                    f"{key}={value}",
                    "the folder holds a tokenizer but no model weights",
                    f"for tokenization only use model=none tokenizer.name_or_path={value}",
                )
        return
    if not offline() and not (reachable or Probe())():
        raise ModelError(
            f"{key}={value}",
            f"the hub ({endpoint()}) cannot be reached",
            "give a local folder, or set HF_HUB_OFFLINE=1 to load cached hub ids (and skip this probe)",
        )


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


class Probe:
    """Whether the hub answers: one HEAD request with a short timeout (runner.reach), asked once
    per Probe — a Session's load cache holds one, so a sweep's runs ask once between them."""

    def __init__(self) -> None:
        self.answer: bool | None = None

    def __call__(self) -> bool:
        if self.answer is None:
            self.answer = reach.silence(endpoint(), "HEAD") is None
        return self.answer


def load_fix() -> str:
    """The fix for a load that failed anyway (a bad hub id, a revision not in the cache)."""
    if offline():
        return (
            "HF_HUB_OFFLINE is set, so only local folders and cached hub ids load: give a local "
            "path, or unset HF_HUB_OFFLINE with network access"
        )
    return "give a local folder holding the files, or a hub id reachable from here"

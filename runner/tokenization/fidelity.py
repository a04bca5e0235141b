"""What a tokenizer loses on the way back: does `decode(input_ids, skip_special_tokens=True)`
give the text again — exactly, or up to the tokenizer's own normalizer. (Split characters and
partial tokens are read from the offsets by token_stats and token_rows.)

Examples are checked a window at a time (encoding.py). Fast tokenizers decode it in one Rust
call (`decode_batch`), then get the clean-up that transformers' `decode` applies on top of it;
Python tokenizers go through `batch_decode`. The tests compare both with direct `tokenizer.decode`
calls.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from runner.tokenization.window import Window


class RoundTrip:
    """Decodes a run's batches and compares them with their texts."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        backend = getattr(tok, "backend_tokenizer", None) if tok.is_fast else None
        self.backend = backend
        self.normalizer = backend.normalizer if backend is not None else None
        # transformers' decode cleans up spaces unless the model is BPE (its own rule, see
        # TokenizersBackend._decode): one flag, read once
        bpe = backend is not None and type(backend.model).__name__ == "BPE"
        self.clean = bool(getattr(tok, "clean_up_tokenization_spaces", False)) and not bpe

    def decode(self, sequences: list[list[int]]) -> list[str]:
        """`tok.decode(ids, skip_special_tokens=True)` for every sequence."""
        if self.backend is None:
            return cast("list[str]", self.tok.batch_decode(sequences, skip_special_tokens=True))
        out = self.backend.decode_batch(sequences, skip_special_tokens=True)
        return [self.tok.clean_up_tokenization(s) for s in out] if self.clean else out

    def normalize(self, text: str) -> str:
        return self.normalizer.normalize_str(text) if self.normalizer is not None else text

    def check(self, window: Window) -> tuple[np.ndarray, np.ndarray] | None:
        """Per example of the window: (round trip exact, round trip up to the normalizer). A pair
        round-trips when each of its texts does, decoded separately. None for pairs of a Python
        tokenizer, which does not say where the second text begins."""
        if window.pairs is not None and window.second is None:
            return None
        bounds = np.cumsum(window.n_tokens)[:-1]
        ids = np.split(window.ids, bounds)
        if window.pairs is None:
            sequences = [x.tolist() for x in ids]
            originals = window.texts
        else:
            assert window.second is not None
            second = np.split(window.second, bounds)
            sequences = [s for x, m in zip(ids, second, strict=True) for s in (x[~m].tolist(), x[m].tolist())]
            originals = [t for ab in zip(window.texts, window.pairs, strict=True) for t in ab]
        decoded = self.decode(sequences)
        exact = np.fromiter((d == t for d, t in zip(decoded, originals, strict=True)), bool, len(decoded))
        normalized = exact.copy()
        for k in np.flatnonzero(~exact).tolist():
            normalized[k] = decoded[k] == self.normalize(originals[k])
        if window.pairs is not None:
            return np.all(exact.reshape(-1, 2), axis=1), np.all(normalized.reshape(-1, 2), axis=1)
        return exact, normalized

"""The rows digest of the comparability key, fed a slice at a time, equals the digest of the joined rows."""

from __future__ import annotations

import hashlib

import pytest

from runner.tokenization.fingerprints import _joined_digest


@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 25])
def test_sliced_digest_equals_the_joined_one(n):
    items = [f"행 {i} row" for i in range(n)]
    pairs = [f"pair {i}" for i in range(n)]
    assert _joined_digest([items], step=10) == hashlib.sha256("\x1f".join(items).encode()).hexdigest()
    both = hashlib.sha256("\x1f".join(items + pairs).encode()).hexdigest()
    assert _joined_digest([items, pairs], step=10) == both

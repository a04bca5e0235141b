"""Every test here logs runs: each gets its MLflow store (tests/conftest.py `store`)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _store(store):
    return store

"""Which config keys hold secrets: the rule on whole key segments, both ways."""

from __future__ import annotations

import pytest

from runner.config.redact import is_secret_key, redact_config

SECRET = [
    "token",
    "hf_token",
    "access_token",
    "auth_token",
    "api_token",
    "use_auth_token",
    "dataset.read_kwargs.storage_options.token",
    "storage_options.auth",
    "api_key",
    "openai_api_key",
    "apikey",
    "password",
    "db_password",
    "passwd",
    "client_secret",
    "secret",
    "aws_secret_access_key",
    "credentials",
    "gcp_credential",
    "accessToken",
    "Authorization",
    "private_key",
]
NOT_SECRET = [
    "token_id",
    "tokens",
    "max_tokens",
    "max_new_tokens",
    "max_token",
    "num_tokens",
    "tokenizer",
    "tokenizer.name_or_path",
    "pad_token",
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "cls_token",
    "mask_token",
    "additional_special_tokens",
    "return_token_type_ids",
    "add_special_tokens",
    "skip_special_tokens",
    "max_length",
    "key",
    "author",
]


@pytest.mark.parametrize("key", SECRET)
def test_secret_keys_are_masked(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET)
def test_harmless_keys_are_kept(key):
    assert not is_secret_key(key)


def test_nested_config_is_masked_by_key():
    out = redact_config({"read_kwargs": {"storage_options": {"hf_token": "hf_abcdef", "token_id": 7}}})
    assert out == {"read_kwargs": {"storage_options": {"hf_token": "***", "token_id": 7}}}

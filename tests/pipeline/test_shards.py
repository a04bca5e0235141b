"""dataset.path as a glob or a folder of shards: every row of every shard, in file order, with
the statistics and the data digest of the same rows read from one file."""

from __future__ import annotations

import json

import pytest

from runner.engine import pipeline
from runner.errors import DataError
from tests.helpers.invoking import compose
from tests.helpers.paths import HUB, ROOT

KLUE_NER = ROOT / "runner" / "assets" / "klue-ner" / "klue-ner-v1.1_dev.sentences.jsonl"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The 5,000 KLUE NER sentences as one file and as 8 shards of it (shard_0 … shard_7)."""
    root = tmp_path_factory.mktemp("shards")
    lines = KLUE_NER.read_text(encoding="utf-8").splitlines()
    (root / "whole.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    folder = root / "parts"
    folder.mkdir()
    size = -(-len(lines) // 8)
    for n in range(8):
        (folder / f"shard_{n}.jsonl").write_text("\n".join(lines[n * size : (n + 1) * size]) + "\n", "utf-8")
    (folder / "README.md").write_text("not a shard", encoding="utf-8")
    return root, len(lines)


def _run(path: str):
    cfg = compose(
        "model=none", f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}", "dataset=json_file",
        f"dataset.path={path}", "dataset.text_column=sentence",
    )  # fmt: skip
    return pipeline.run(cfg)


@pytest.mark.parametrize("form", ["folder", "glob"])
def test_shards_give_the_rows_and_numbers_of_one_file(shards, form):
    root, rows = shards
    whole = _run(str(root / "whole.jsonl"))
    parts = _run(str(root / "parts") if form == "folder" else str(root / "parts" / "shard_*.jsonl"))
    assert whole.metrics["data/rows"] == parts.metrics["data/rows"] == rows
    assert parts.tags["data.digest"] == whole.tags["data.digest"]
    shared = {k for k in whole.metrics if k.startswith(("tokens/", "script/"))}
    assert len(shared) > 20 and shared == {k for k in parts.metrics if k.startswith(("tokens/", "script/"))}
    for key in shared:
        assert parts.metrics[key] == whole.metrics[key], key
    first = json.loads(KLUE_NER.read_text(encoding="utf-8").splitlines()[0])["sentence"]
    assert parts.token_rows[0]["text"] == first


def test_a_glob_that_matches_nothing_is_one_line(shards):
    root, _ = shards
    with pytest.raises(DataError, match="matches no file"):
        _run(str(root / "parts" / "*.parquet"))

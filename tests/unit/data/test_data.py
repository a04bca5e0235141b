"""Every dataset source from config alone, lineage fields, and each data error's message."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from runner.data import data_files, sources
from runner.errors import DataError
from tests.helpers.invoking import compose


def load(*overrides, **fields):
    run = compose(*overrides)
    for key, value in fields.items():
        setattr(run.dataset, key, value)
    return sources.load(run.dataset, run.runtime.seed)


def test_klue_nli_jsonl_pairs_with_labels(fixtures):
    path = fixtures / "datasets" / "klue-nli" / "klue-nli-v1.1_dev.first1000.jsonl"
    texts = load(
        "dataset=json_file",
        f"dataset.path={path}",
        "dataset.text_column=premise",
        "dataset.text_pair_column=hypothesis",
        "dataset.label_column=gold_label",
    )
    assert len(texts) == 1000 and texts.pairs is not None
    assert set(texts.labels) == {"entailment", "neutral", "contradiction"}
    assert texts.lineage["source"] == "json"


def test_klue_sts_json_array_with_nested_label(fixtures):
    path = fixtures / "datasets" / "klue-sts" / "klue-sts-v1.1_dev.json"
    texts = load(
        "dataset=json_file",
        f"dataset.path={path}",
        "dataset.text_column=sentence1",
        "dataset.text_pair_column=sentence2",
        "dataset.label_column=labels.label",
        "dataset.limit=50",
    )
    assert len(texts) == 50
    assert all(0.0 <= x <= 5.0 for x in texts.labels)
    assert texts.rows_read == 519


def test_csv_parquet_text_and_pandas_tsv(tmp_path):
    frame = pd.DataFrame({"sentence": ["첫번째 문장", "  ", "second text", "third"], "y": [0, 1, 1, 0]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    (tmp_path / "d.txt").write_text("line one\n\nline two\n", encoding="utf-8")
    for source, name in (("csv", "d.csv"), ("parquet", "d.parquet"), ("pandas", "d.tsv")):
        texts = load(
            f"dataset.source={source}",
            f"dataset.path={tmp_path / name}",
            "dataset.text_column=sentence",
            "dataset.label_column=y",
        )
        assert list(texts.texts) == ["첫번째 문장", "second text", "third"], source
        assert texts.labels == [0, 1, 0] and texts.dropped_empty == 1
    texts = load("dataset.source=text", f"dataset.path={tmp_path / 'd.txt'}")
    assert list(texts.texts) == ["line one", "line two"] and texts.dropped_empty == 1


def test_json_field_nested_list(tmp_path):
    (tmp_path / "n.json").write_text(json.dumps({"data": [{"text": "a b"}, {"text": "c"}]}))
    texts = load("dataset=json_file", f"dataset.path={tmp_path / 'n.json'}", "dataset.field=data")
    assert list(texts.texts) == ["a b", "c"]


def test_inline_columns_dict_and_shuffle_limit():
    texts = load(
        "dataset=inline",
        columns={"text": ["a", "b", "c", "d"], "label": [0, 1, 2, 3]},
        label_column="label",
        shuffle=True,
        limit=2,
    )
    assert len(texts) == 2 and set(texts.texts) <= {"a", "b", "c", "d"}
    again = load(
        "dataset=inline",
        columns={"text": ["a", "b", "c", "d"], "label": [0, 1, 2, 3]},
        label_column="label",
        shuffle=True,
        limit=2,
    )
    assert list(again.texts) == list(texts.texts)  # runtime.seed makes the shuffle repeatable


@pytest.mark.parametrize(
    ("fields", "key", "words"),
    [
        (
            {"source": "csv", "path": "/no/such/file.csv"},
            "dataset.path=/no/such/file.csv",
            "no such file",
        ),
        ({"texts": []}, "dataset.texts", "empty"),
        ({"texts": ["a", ["b", "c"]]}, "dataset.texts", "mixes"),
        ({"texts": ["   ", "\t"]}, "dataset.text_column", "no non-empty texts"),
        (
            {"source": "hub", "path": "klue", "name": "mrc"},
            "dataset.path=klue",
            "offline",
        ),
    ],
)
def test_data_errors_name_the_key(fields, key, words):
    with pytest.raises(DataError) as info:
        load("dataset=inline", **fields)
    assert str(info.value).startswith(key) and words in str(info.value)


def test_missing_column_lists_available(tmp_path):
    pd.DataFrame({"sentence": ["a"], "y": [1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError) as info:
        load("dataset=csv_file", f"dataset.path={tmp_path / 'd.csv'}", "dataset.text_column=text")
    assert str(info.value).startswith("dataset.text_column=text")
    assert "use one of: dataset.text_column=sentence, dataset.text_column=y" in str(info.value)


def test_unknown_split_lists_splits(tmp_path):
    pd.DataFrame({"text": ["a"]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError) as info:
        load("dataset=csv_file", f"dataset.path={tmp_path / 'd.csv'}", "dataset.split=validation")
    assert str(info.value).startswith("dataset.split=validation") and "train" in str(info.value)


def test_not_utf8_names_the_file(tmp_path):
    (tmp_path / "k.csv").write_bytes("text\n오늘 날씨\n".encode("cp949"))
    with pytest.raises(DataError) as info:
        load("dataset=csv_file", f"dataset.path={tmp_path / 'k.csv'}")
    assert "not valid UTF-8" in str(info.value) and "k.csv" in str(info.value)


def _jsonl(tmp_path, rows):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"text": r}) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("streaming", [False, True])
def test_limit_counts_kept_rows_in_both_modes(tmp_path, streaming):
    path = _jsonl(tmp_path, ["  ", "one", "", "two", "three", "four"])
    cfg = compose(
        "dataset=json_file", f"dataset.path={path}", "dataset.limit=3", f"dataset.streaming={streaming}"
    )
    texts = sources.load(cfg.dataset, seed=0)
    assert list(texts.texts) == ["one", "two", "three"]  # empty rows do not use up the limit


def test_streaming_shuffles_once_with_runtime_seed(tmp_path):
    rows = [f"row {i}" for i in range(200)]
    path = _jsonl(tmp_path, rows)

    def load_seeded(seed):
        cfg = compose(
            "dataset=json_file", f"dataset.path={path}", "dataset.streaming=true", "dataset.shuffle=true"
        )
        return list(sources.load(cfg.dataset, seed=seed).texts)

    from datasets import load_dataset

    once = list(
        load_dataset("json", data_files=str(path), split="train", streaming=True).shuffle(
            seed=7, buffer_size=10_000
        )
    )
    assert load_seeded(7) == [r["text"] for r in once]  # one shuffle with the run's seed, nothing more
    assert load_seeded(7) != load_seeded(8) and sorted(load_seeded(8)) == sorted(rows)


def test_text_column_reads_a_block_at_a_time_like_a_list(monkeypatch):
    """A file's texts are read from the dataset as the run goes; indexing, slicing and
    iteration agree with the plain list, also after a shuffle (an indices mapping)."""
    from datasets import Dataset

    monkeypatch.setattr(data_files.TextColumn, "BLOCK_ROWS", 4)
    rows = [f"row {i}" for i in range(11)]
    for ds in (Dataset.from_dict({"t": rows}), Dataset.from_dict({"t": rows}).shuffle(seed=3)):
        expected = ds["t"][:]
        column = data_files.TextColumn(ds, "t")
        assert len(column) == len(expected) == 11
        assert list(column) == expected
        assert [column[i] for i in (0, 5, 3, 10, 4, -1, -11)] == [
            expected[i] for i in (0, 5, 3, 10, 4, -1, -11)
        ]
        assert column[2:9] == expected[2:9] and column[9:2] == [] and column[1:10:3] == expected[1:10:3]
        with pytest.raises(IndexError):
            column[11]


def test_a_suggested_column_pastes_into_the_shell_and_hydra(tmp_path):
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = tmp_path / "ko.csv"
    pd.DataFrame({"문장": ["오늘 날씨가 좋네요."], "plain": ["x"]}).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        load("dataset=csv_file", f"dataset.path={path}", "dataset.text_column=text")
    message = str(info.value)
    assert "'dataset.text_column=\"문장\"'" in message and "dataset.text_column=plain" in message
    (pasted,) = shlex.split("'dataset.text_column=\"문장\"'")  # what the shell hands Hydra
    assert OverridesParser.create().parse_override(pasted).value() == "문장"


def test_a_hub_dataset_gets_one_probe_when_the_hub_is_unreachable(monkeypatch):
    import socket
    import time

    with socket.socket() as closed:  # a port nobody listens on: the probe is refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        load("dataset=klue_nli")
    assert time.monotonic() - start < 5
    assert str(info.value).startswith("dataset.path=klue: the hub") and "HF_HUB_OFFLINE=1" in str(info.value)

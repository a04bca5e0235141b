"""Run names: distinct within a sweep, readable, never cut where jobs differ."""

from __future__ import annotations

import pytest

from runner.config import naming

CHOICES = {"model": "none", "padding": "longest", "dataset": "sample", "tokenizer": "default"}


def test_paths_show_their_last_component():
    grid = ["/x/shared/hub/bert-base-uncased", "/x/shared/hub/roberta-base"]
    names = [naming.run_name(CHOICES, [f"tokenizer.name_or_path={p}"], None, None) for p in grid]
    assert names == [
        "none · longest · sample · tokenizer=bert-base-uncased",
        "none · longest · sample · tokenizer=roberta-base",
    ]


def test_paths_with_the_same_last_component_keep_what_tells_them_apart(monkeypatch):
    grid = ["/a/v1/model", "/a/v2/model"]
    swept = {"tokenizer.name_or_path": grid}
    names = {naming.run_name(CHOICES, [f"tokenizer.name_or_path={p}"], None, 0, swept) for p in grid}
    assert names == {"v1/model", "v2/model"}  # a sweep's child: what varies


def test_long_values_are_shortened_in_the_middle_unless_that_is_where_they_differ():
    long = "a" * 30 + "-middle-" + "z" * 30
    shown = naming.short(long, [])
    assert len(shown) == naming.MAX_VALUE - 1 and shown.startswith("aaa") and shown.endswith("zzz")
    other = "a" * 30 + "-MIDDLE-" + "z" * 30
    assert naming.short(long, [long, other]) == long  # shortening would make the two equal


def test_a_users_run_name_is_kept_and_numbered_in_a_sweep():
    assert naming.run_name(CHOICES, [], "mine", None) == "mine"
    assert naming.run_name(CHOICES, [], "mine", 3) == "mine #3"


def test_grid_reads_hydra_sweep_syntax():
    grid = naming.grid(["model=a,b", "padding=longest", "tokenizer.max_length=64,128"])
    assert grid == {"model": ["a", "b"], "tokenizer.max_length": ["64", "128"]}


def test_a_sweep_child_is_named_by_its_axes_most_telling_first(monkeypatch):
    grid = {"tokenizer": ["bert_base_uncased", "roberta_base"], "padding": ["longest", "do_not_pad"]}
    grid["tokenizer.max_length"] = ["64", "128"]
    overrides = ["model=none", "tokenizer=roberta_base", "padding=do_not_pad", "tokenizer.max_length=64"]
    name = naming.run_name({**CHOICES, "tokenizer": "roberta_base"}, overrides, None, 3, grid)
    # padding first: 4 of the 8 names differ within 18 characters (no order does better; the
    # sweep's order, tokenizer first, tells only 2 apart there)
    assert name == "do_not_pad · roberta_base · max_length=64"
    assert naming.run_name(CHOICES, overrides, None, None) != name  # a single run keeps its context


def test_the_parent_says_what_it_compares_and_what_is_shared():
    grid = {"tokenizer": ["a", "b"], "padding": ["longest", "do_not_pad"]}
    assert naming.parent_name(None, grid, "15-27-36-3b9d0f") == "tokenizer × padding · 15-27-36-3b9d0f"
    assert naming.parent_name("bert_vs_roberta", grid, "x") == "bert_vs_roberta · x"
    shared = naming.shared(CHOICES, ["model=none", "tokenizer.max_length=64", "tracking.uri=x"], grid)
    assert shared == "model=none · dataset=sample · max_length=64"


@pytest.mark.parametrize(
    "grid",
    [
        {"tokenizer": ["bert_base_uncased", "roberta_base"], "dataset": ["sample", "sample_pairs"]},
        {"model": ["tiny_bert", "tiny_roberta"], "padding": ["longest", "max_length"]},
        {"tokenizer": ["tiny_bert", "tiny_roberta"], "dataset": ["udhr_parallel"]},
        {"padding": ["longest", "max_length", "do_not_pad"]},
        {
            "tokenizer.train.algorithm": ["bpe", "wordpiece", "unigram"],
            "tokenizer.train.vocab_size": ["4000", "8000", "16000"],
        },
    ],
    ids=["bert_vs_roberta", "readme-model-padding", "readme-udhr", "padding_strategies", "vocab_size"],
)
def test_children_differ_within_mlflows_column_width(monkeypatch, grid):
    """MLflow's runs table shows about 18 characters of a name: siblings differ within them."""
    import itertools

    names = [
        naming.run_name(CHOICES, [f"{k}={v}" for k, v in zip(grid, values, strict=True)], None, n, grid)
        for n, values in enumerate(itertools.product(*grid.values()))
    ]
    assert len(names) == len({n[:18] for n in names}), names


def test_a_reused_tokenizer_is_named_by_its_run_and_quotes_do_not_count():
    rid = "0123456789abcdef0123456789abcdef"
    name = naming.run_name(CHOICES, [f"tokenizer.name_or_path=runs:/{rid}/tokenizer"], None, None)
    assert name.endswith("tokenizer=runs:/01234567"), name
    quoted = [naming.run_name(CHOICES, [f"dataset.text_column={q}문장{q}"], None, None) for q in "\"'"]
    assert quoted[0] == quoted[1] and quoted[0].endswith("text_column=문장")

"""The verdict: measures chosen by what the runs computed, a terminal table that fits 120
columns, a stated ranking, and probe correlations equal to scipy's."""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau, spearmanr

from runner.analysis import verdict

RUNS = [
    verdict.Run(
        f"klue_ner · tokenizer_number_{n}",
        {
            "tokens/fertility": f,
            "tokens/unk_rate": 0.001 * n,
            "script/Hangul/words": 900.0,
            "script/Latin/words": 30.0,
            "script/Hangul/split_char_rate": s,
            "morph/boundary_f1": m,
            "morph/boundary_precision": m - 0.1,
            "probe/accuracy": a,
            "probe/majority": 0.2,
            "tokens/total": 1000.0 * n,
        },
    )
    for n, (f, s, m, a) in enumerate(
        [(6.0, 0.7, 0.26, 0.50), (9.0, 1.0, 0.24, 0.52), (4.6, 0.37, 0.45, 0.61), (2.5, 0.0, 0.84, 0.64)]
    )
]


def test_headline_measures_follow_what_the_runs_computed():
    names = verdict.headline(RUNS)
    assert list(names)[:3] == ["probe/accuracy", "probe/majority", "tokens/fertility"]
    assert "script/Hangul/split_char_rate" in names and "tokens/split_char_rate" not in names
    assert "morph/boundary_f1" in names and "morph/boundary_recall" not in names  # not computed
    plain = [verdict.Run(r.name, {"tokens/fertility": 1.0, "tokens/unk_rate": 0.0}) for r in RUNS]
    assert list(verdict.headline(plain)) == ["tokens/fertility", "tokens/unk_rate"]


def test_runs_are_ranked_by_a_stated_measure():
    assert verdict.stated(RUNS) == "ranked by probe/accuracy, highest first"
    assert [r.metrics["probe/accuracy"] for r in verdict.ranked(RUNS)] == [0.64, 0.61, 0.52, 0.50]
    no_probe = [
        verdict.Run(r.name, {k: v for k, v in r.metrics.items() if not k.startswith("probe")}) for r in RUNS
    ]
    assert verdict.stated(no_probe) == "ranked by morph/boundary_f1, highest first"


def test_the_terminal_table_fits_120_columns_with_a_legend():
    long = [verdict.Run(r.name + " · " + "x" * 150, r.metrics) for r in RUNS]
    text = verdict.terminal(long)
    table = text.splitlines()[1:-1]
    assert len(table) == 1 + len(RUNS)
    assert all(len(line) <= verdict.WIDTH for line in table), max(map(len, table))
    assert text.splitlines()[-1].startswith("(probe acc = probe/accuracy;")
    assert "klue_ner" not in table[1]  # what every run shares is not repeated


def test_first_table_holds_every_shared_measure():
    columns, rows = verdict.first_table(RUNS)
    assert columns[0] == "probe/accuracy" and "tokens/total" in columns
    assert [r["run"] for r in rows][0] == "tokenizer_number_3"


def test_correlations_equal_scipys():
    rows = verdict.correlations(RUNS)
    y = [r.metrics["probe/accuracy"] for r in RUNS]
    measures = {row["measure"] for row in rows}
    assert "tokens/total" not in measures and "script/Hangul/words" not in measures  # sizes; constant
    assert measures == {
        "tokens/fertility", "tokens/unk_rate", "script/Hangul/split_char_rate",
        "morph/boundary_f1", "morph/boundary_precision",
    }  # fmt: skip
    for row in rows:
        x = [r.metrics[row["measure"]] for r in RUNS]
        assert row["spearman"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
        assert row["kendall"] == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
        assert row["n"] == 4
    assert abs(rows[0]["spearman"]) >= abs(rows[-1]["spearman"])
    assert verdict.correlations(RUNS[:2]) == []  # two runs: nothing to rank


def test_an_installed_statistics_metric_is_shown_like_a_built_in():
    runs = [
        verdict.Run(r.name, {**r.metrics, "mine/longest_piece_chars": 3.0 + n}) for n, r in enumerate(RUNS)
    ]
    columns, _ = verdict.first_table(runs)
    assert "mine/longest_piece_chars" in columns and "time/total_s" not in columns
    assert "mine/longest_piece_chars" in {row["measure"] for row in verdict.correlations(runs)}

"""The comparison's plain-data side: pads left out on either side, runs keyed by id, one page."""

from __future__ import annotations

import pytest

from runner.analysis import report
from runner.analysis.report import RunTokens

ROW = {"index": 0, "text": "hi there", "tokens": ["[PAD]", "[PAD]", "[CLS]", "hi", "there", "[SEP]"]}
ROW.update(pieces=["[PAD]", "[PAD]", "[CLS]", "hi", "there", "[SEP]"], special=[1, 1, 1, 0, 0, 1])
ROW.update(partial=[False] * 6, n_pad=2)


@pytest.mark.parametrize("with_mask", [True, False])
def test_left_pads_are_left_out_with_or_without_a_mask(with_mask):
    row = {**ROW, "pad_side": "left"}
    if with_mask:
        row["attention_mask"] = [0, 0, 1, 1, 1, 1]
    tokens = report.content(row)
    assert tokens.pieces == ["[CLS]", "hi", "there", "[SEP]"] and tokens.special == [True, False, False, True]
    assert tokens.partial == [False] * 4 and tokens.unk == [False] * 4


def test_one_comparison_row_per_example_with_each_runs_pieces():
    left = {**ROW, "pad_side": "left"}
    runs = [
        RunTokens("a" * 32, "same", {}, report.keyed([left])),
        RunTokens("b" * 32, "other", {}, report.keyed([left])),
    ]
    rows = report.comparison_rows(runs)
    assert len(rows) == 1 and rows[0]["same · n"] == rows[0]["other · n"] == 4
    assert rows[0]["same"] == "[CLS] | hi | there | [SEP]"
    page = report.render([{"run": "same"}, {"run": "other"}], runs, {}, report.example_keys(runs))
    assert page.count("<section class='ex'>") == 1 and "<script" not in page


def test_examples_whose_segmentations_differ_come_first():
    def full(index, pieces, special):
        text = "".join(p for p, s in zip(pieces, special, strict=True) if not s)
        n = len(pieces)
        return {"index": index, "text": text, "tokens": pieces, "pieces": pieces, "special": special}, n

    def rows(*examples):
        out = []
        for index, pieces, special in examples:
            row, n = full(index, pieces, special)
            out.append({**row, "partial": [False] * n, "n_pad": 0})
        return report.keyed(out)

    bert = rows((0, ["[CLS]", "x", "[SEP]"], [1, 0, 1]), (1, ["[CLS]", "y", "z", "[SEP]"], [1, 0, 0, 1]))
    roberta = rows((0, ["<s>", "x", "</s>"], [1, 0, 1]), (1, ["<s>", "yz", "</s>"], [1, 0, 1]))
    runs = [RunTokens("1", "bert", {}, bert), RunTokens("2", "roberta", {}, roberta)]
    ordered = report.differing_first(report.example_keys(runs), runs)
    assert [runs[0].rows[k]["index"] for k in ordered] == [1, 0]  # special tokens alone make no difference


def test_plots_draw_hangul_run_names_as_text():
    """Run names in Hangul (and kana, Han) are drawn with a CJK face, not as missing-glyph boxes
    (Debian's fonts-noto-cjk, which .ci/run installs)."""
    import warnings

    from runner.analysis import compare
    from runner.analysis.report import RunTokens

    row = {"index": 0, "column": "text", "tokens": ["a"], "pieces": ["a"], "special": [False]}
    runs = [
        RunTokens(str(n), name, {"tokens/pad_fraction": 0.1}, {("text", 0): row})
        for n, name in enumerate(["한국어 토크나이저", "日本語"])
    ]
    assert "Noto Sans CJK" in " ".join(compare.font_families())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = compare.plots(runs)
    assert images and not [w for w in caught if "missing from font" in str(w.message)]


def test_a_loss_that_looks_unchanged_is_named_by_code_point():
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "오늘")
    page = report.marked_difference("오늘 날씨", f"{decomposed} 날씨")
    assert "<del>오늘</del>" in page and f"<ins>{decomposed}</ins>" in page
    assert "[NFC U+C624 U+B298 → NFD U+110B U+1169 U+1102 U+1173 U+11AF]" in page
    assert "U+200B → nothing" in report.marked_difference("a\u200bb", "ab")  # an invisible character
    assert "class='cp'" not in report.marked_difference("abc", "abd")  # a visible change: no note


def test_whitespace_tokens_are_drawn():
    assert report.visible_space(" ") == "␣" and report.visible_space("\n\t") == "⏎⇥"
    assert report.visible_space(" <0xEB>") == "␣<0xEB>"

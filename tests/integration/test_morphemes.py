"""stats.morphemes=kiwi: every morph/* metric recomputed here from kiwipiepy and the tokenizer's
own offsets, on Korean, mixed Korean/English and English text; one analysis per dataset."""

from __future__ import annotations

import pytest
from kiwipiepy import Kiwi
from transformers import AutoTokenizer

import runner
from runner.config.schema import PreTokenizer
from runner.tokenization import morphemes
from tests.helpers.invoking import compose
from tests.helpers.paths import HUB

TEXTS = {
    "korean": [
        "토크나이저를 공부하고 있습니다.",
        "우리 같이 봅시다!",
        "어제 영화를 봤어요.",
        "그는 그곳에 있었습니다.",
    ],
    "mixed": ["Seoul은 대한민국의 수도입니다.", "BERT와 RoBERTa를 비교했어요."],
    "english": ["Hello, my dog is cute.", "Tokenizers split words."],
}


def load(name: str):
    if name == "cl100k_base":
        from runner.tokenization.tiktoken_files import load as load_tiktoken  # the runner's own loading

        cfg = compose("model=none", "tokenizer=cl100k_base").tokenizer
        return load_tiktoken("tokenizer.name_or_path", cfg.name_or_path, cfg.tiktoken)
    return AutoTokenizer.from_pretrained(str(HUB / name))


def expected(name: str, texts: list[str], old_rule: bool = False) -> dict[str, float]:
    """The rules of runner.tokenization.morphemes, written again from the raw outputs: a token
    boundary sits between two consecutive content tokens; where they share a character it lies
    inside it and matches no morpheme boundary. `old_rule`: every token end inside a word."""
    kiwi, tok = Kiwi(), load(name)
    both = cuts = refs = aligned = spanned = 0
    for text in texts:
        spans = []
        for t in kiwi.tokenize(text):  # morphemes whose surface overlaps are one unit
            s, e = t.start, t.start + t.len
            if spans and s < spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], e))
            else:
                spans.append((s, e))

        def word_inside(k: int, text=text) -> bool:
            return 0 < k < len(text) and not text[k - 1].isspace() and not text[k].isspace()

        ref = {k for s, e in spans for k in (s, e) if word_inside(k)}
        edges = {k for s, e in spans for k in (s, e)} | {
            k for k in range(len(text) + 1) if not word_inside(k)
        }
        enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        tokens = [
            (a, b)
            for (a, b), sp in zip(enc["offset_mapping"], enc["special_tokens_mask"], strict=True)
            if not sp and b > a
        ]
        if old_rule:
            made, inside_char = {b for _, b in tokens if word_inside(b)}, 0
        else:
            pairs = list(zip(tokens, tokens[1:], strict=False))
            made = {x[1] for x, y in pairs if y[0] >= x[1] and word_inside(x[1])}
            inside_char = sum(y[0] < x[1] for x, y in pairs)
        both, cuts, refs = both + len(made & ref), cuts + len(made) + inside_char, refs + len(ref)
        for n, (a, b) in enumerate(tokens):
            shares = (n > 0 and a < tokens[n - 1][1]) or (n + 1 < len(tokens) and tokens[n + 1][0] < b)
            spanned += 1
            aligned += int(not shares and a in edges and b in edges)
    return {
        "morph/boundary_precision": both / cuts if cuts else 0.0,
        "morph/boundary_recall": both / refs if refs else 0.0,
        "morph/boundary_f1": 2 * both / (cuts + refs) if cuts + refs else 0.0,
        "morph/aligned_token_share": aligned / spanned,
        "morph/boundaries": float(refs),
    }


@pytest.mark.parametrize("kind", list(TEXTS))
@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base", "cl100k_base"])
def test_every_morph_metric_equals_a_direct_computation(kind, name):
    texts = TEXTS[kind]
    source = "tokenizer=cl100k_base" if name == "cl100k_base" else f"tokenizer.name_or_path={HUB / name}"
    run = runner.run(
        "model=none",
        source,
        "stats.morphemes=kiwi",
        f"+dataset.columns={{text:[{','.join(repr(t).replace(chr(39), chr(34)) for t in texts)}]}}",
    )
    want = expected(name, texts)
    got = {k: v for k, v in run.metrics.items() if k.startswith("morph/")}
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert len(run.tokens) == len(texts) and all(run.tokens["morphemes"])
    if kind == "korean":  # these tokenizers split syllables: the old rule (token ends) gives other numbers
        old = expected(name, texts, old_rule=True)
        assert old["morph/boundary_precision"] != pytest.approx(want["morph/boundary_precision"], abs=1e-6)
    if kind == "english":  # Kiwi keeps a Latin word whole (`cute.` too) and cuts the comma of `Hello,`
        assert want["morph/boundaries"] == 1


def test_a_sweep_over_four_tokenizers_analyses_its_dataset_once(monkeypatch):
    analysed: list[str] = []
    real = morphemes.analyse

    def counted(texts):
        analysed.extend(dict.fromkeys(texts))
        return real(texts)

    monkeypatch.setattr(morphemes, "analyse", counted)
    sweep = runner.sweep(
        "model=none",
        "tokenizer=bert_base_uncased,roberta_base,tiny_bert,tiny_roberta",
        "stats.morphemes=kiwi",
    )
    assert len(sweep.children) == 4
    assert len(analysed) == 10  # the sample's ten texts, analysed once
    table = sweep.comparison
    assert "morphemes" in table.columns and table["morphemes"].str.contains(" \\| ").any()


def test_the_korean_study_composes_six_tokenizers_one_of_them_morpheme_aware():
    from omegaconf import OmegaConf

    from tests.helpers.invoking import compose
    from tests.helpers.paths import ROOT

    study = OmegaConf.load(ROOT / "conf" / "experiment" / "korean_tokenizers.yaml")
    names = study.hydra.sweeper.params.tokenizer.split(",")
    chosen = {n: compose("experiment=korean_tokenizers", f"tokenizer={n}") for n in names}
    assert len(chosen) == 6 and all(
        c.stats.morphemes == "kiwi" and c.stats.roundtrip for c in chosen.values()
    )
    trained = {n for n, c in chosen.items() if c.tokenizer.train is not None}
    assert trained == {"klue_wordpiece", "klue_unigram", "klue_morpheme_bpe"}
    assert chosen["klue_morpheme_bpe"].tokenizer.train.pre_tokenizer is PreTokenizer.morphemes

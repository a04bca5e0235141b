"""The batch loop every run's data goes through — a whole column in the run's process, or one
block of rows in an `execution=ray` worker (runner.engine.distributed) —, and the statistics it
feeds, set up for the texts it will see."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runner.config.schema import RunConfig
from runner.data import sources
from runner.engine import interrupt
from runner.engine.result import Hashes, RunResult, timed
from runner.model.inference import Predictor
from runner.task import features as probe_features
from runner.tokenization import encoding, morphemes, statistics, token_rows
from runner.tokenization.fingerprints import hash_rows, texts_digest
from runner.tokenization.statistic import Cached

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase as Tokenizer

Progress = Callable[[int, int], None]  # (rows done, rows in all): a terminal shows rows/s


def start_statistics(
    cfg: RunConfig, tok: Tokenizer, texts: sources.Texts, cached: Cached
) -> list[statistics.Statistic]:
    """The statistics the run switches on, for these texts; a morpheme-aware tokenizer handed
    the analyses of the texts, made once (`cached`) in one batched call."""
    stats = statistics.start(statistics.Context(cfg, tok, texts, cached))
    cut = morphemes.cut_of(tok)
    if cut is not None:  # the morpheme-aware tokenizer reads the analyses the reference made
        cut.known.update(cached("morphemes", texts_digest(texts), lambda: morphemes.analyse(texts.strings())))
    return stats


@dataclass
class Loop:
    """What every column's batch loop shares: the run's config and result, the tokenizer and
    its call's arguments, the statistics, the model (None: tokenization only), the progress
    callback and the per-example token hashes."""

    cfg: RunConfig
    result: RunResult
    tok: Tokenizer
    kwargs: dict[str, object]
    stats: list[statistics.Statistic]  # those this run switched on (runner.tokenization.statistics)
    predictor: Predictor | None
    progress: Progress | None
    hashes: Hashes
    bag: probe_features.BagOfTokens | None = None  # probe=bag_of_tokens: the features, batch by batch
    longer: int = 0  # examples longer than the tokenizer's model_max_length
    longest: int = 0  # real tokens of the longest example
    offset: int = 0  # the input position of row 0 of these texts (an execution=ray block's start)


def run(loop: Loop, texts: Sequence[str], pairs: Sequence[str] | None, column: str | None) -> tuple[int, int]:
    """Encode (and run) one column's batches — or one block's, its rows numbered from
    `loop.offset` —; returns its (content tokens, all real tokens)."""
    cfg, result, tok, stats, predictor, progress = (
        loop.cfg,
        loop.result,
        loop.tok,
        loop.stats,
        loop.predictor,
        loop.progress,
    )
    keep, size = cfg.tracking.max_logged_examples, cfg.runtime.batch_size
    total = -(-len(texts) // size)  # batches
    content = real = done = 0
    with timed(result, "tokenize"):
        encoder = encoding.Encoder(tok, loop.kwargs, None if predictor else keep, cfg.stats.roundtrip)
    # closed on any exit: the encoder's worker thread ends with the stream
    with closing(encoder.stream(texts, pairs, size, cfg.runtime.sort_by_length, loop.offset)) as stream:
        for _ in range(total):
            interrupt.check()  # also right after the model loaded
            with timed(result, "tokenize"):
                batch = next(stream)
                for statistic in stats:
                    statistic.update(batch, keep)
                loop.longer += int(np.count_nonzero(batch.n_tokens > tok.model_max_length))
                loop.longest = max(loop.longest, int(batch.n_tokens.max(initial=0)))
                content += int(np.count_nonzero(batch.special == 0))
                hash_rows(batch, loop.hashes, loop.offset)
                real += int(batch.n_tokens.sum())
                logged = [j for j, i in enumerate(batch.indices) if i < keep]
                if logged:
                    rows = token_rows.example_rows(tok, batch, logged, batch.roundtrip)
                    result.token_rows.extend({"column": column, **r} if column else r for r in rows)
            if loop.bag is not None:
                with timed(result, "probe"):
                    loop.bag.update(batch)
            if predictor is not None:
                with timed(result, "forward"):
                    predictor.run(batch, contexts=batch.pairs)
            done += len(batch.indices)
            if progress is not None:  # in rows: a terminal shows rows/s and the time left
                progress(done, len(texts))
    return content, real

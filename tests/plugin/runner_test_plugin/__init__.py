"""A head and a source from an installed package (entry points in pyproject.toml)."""

from __future__ import annotations

from runner.model import heads


def max_pooled(step):
    """Each example's hidden states max-pooled over its real tokens."""
    hidden, real = step.out.last_hidden_state.float().cpu().numpy(), step.real()
    return [hidden[n][real[n]].max(0)[None] for n in range(len(step.group))]


def peak_rows(step, wanted, values):
    return [{"index": step.batch.indices[j], "peak": float(values[n].max())} for n, j in wanted]


MAX_POOL = heads.Head(heads.Kind.BODY, "AutoModel", "MODEL_MAPPING", max_pooled, peak_rows, answer="peak")


def reversed_lines(cfg, reachable):
    """A text file's lines, each reversed."""
    from datasets import Dataset

    with open(cfg.path, encoding="utf-8") as f:
        return Dataset.from_dict({"text": [line[::-1] for line in f.read().splitlines() if line]})


class LongestPiece:
    """A statistic: the longest content token of the run, in characters of the text."""

    def __init__(self) -> None:
        self.longest = 0

    def update(self, batch, keep):
        if batch.offsets is not None:
            spans = batch.offsets[batch.special == 0]
            self.longest = max(self.longest, int((spans[:, 1] - spans[:, 0]).max(initial=0)))

    def metrics(self):
        return {"mine/longest_piece_chars": float(self.longest)}

    def merge(self, other):
        """Another worker's longest (execution=ray)."""
        self.longest = max(self.longest, other.longest)

    def columns(self, index):
        return {}

    def tags(self):
        return {}


def longest_piece(context):
    """The statistic's factory (runner.statistics entry point)."""
    return LongestPiece()

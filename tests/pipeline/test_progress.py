"""Progress bars over jobs and batches: shown at a terminal, silent otherwise."""

from __future__ import annotations

from omegaconf import OmegaConf

from runner import console
from runner.engine import sweep


def test_job_count_multiplies_swept_values_from_cli_and_experiment():
    config = OmegaConf.create(
        {
            "hydra": {
                "overrides": {"task": ["padding=longest,max_length", "runtime.seed=1"]},
                "sweeper": {"params": {"model": "tiny_bert,tiny_roberta,none"}},
            }
        }
    )
    assert sweep.count_jobs(config) == 6


def test_progress_is_silent_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(console, "interactive", lambda: False)
    bar = console.Progress("batches", "batch")
    for n in range(1, 4):
        bar(n, 3)
    assert capsys.readouterr().err == ""


def test_progress_draws_a_bar_at_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(console, "interactive", lambda: True)
    bar = console.Progress("batches", "batch")
    bar(1, 3)
    assert bar.bar is not None and bar.bar.n == 1 and bar.bar.total == 3
    bar(3, 3)
    assert bar.bar is None  # closed at the end
    assert "batches" in capsys.readouterr().err


def test_pipeline_reports_rows_after_every_batch():
    from runner.engine import pipeline
    from tests.helpers.invoking import compose

    calls = []
    run = compose("model=none", "runtime.batch_size=3")
    pipeline.run(run, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]  # 10 sample texts in batches of 3

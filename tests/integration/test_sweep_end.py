"""A sweep's end as a reviewer reads it: every job's optional packages checked before the parent
opens, jobs refused before their run opened in the jobs table, the files named as logged, and
comparison/probe.json's correlations recomputed with scipy from the children's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from scipy.stats import kendalltau, spearmanr

import runner
from runner.tokenization import morphemes
from tests.helpers.invoking import invoke
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import runs_in

NLI = FIXTURES / "datasets" / "klue-nli" / "klue-nli-v1.1_dev.first1000.jsonl"


def test_a_missing_optional_package_stops_the_sweep_before_any_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setattr(morphemes, "installed", lambda: False)
    proc = invoke(
        "-m", "model=none", "tokenizer=bert_base_uncased,klue_morpheme_bpe", f"tracking.uri={uri}",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines == [
        "error: tokenizer=klue_morpheme_bpe (tokenizer.train.pre_tokenizer=morphemes): needs kiwipiepy "
        "— pip install kiwipiepy (or 'hf-runner[korean]')"
    ]
    assert MlflowClient(uri).get_experiment_by_name("runner") is None  # no run, not even the parent


def test_a_job_refused_before_its_run_is_in_the_jobs_table(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke("-m", "model=none", "probe=none,bag_of_tokens", f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 1
    table = proc.stdout.split("\n\n")[1] if "\n\n" in proc.stdout else proc.stdout
    assert "FAILED (no run)" in table and "probe.label_column" in table
    assert "1 of 2 jobs failed" in proc.stderr
    _, runs = runs_in(uri)
    assert len([r for r in runs if r.data.tags.get("mlflow.parentRunId")]) == 1
    assert "sweep parent run" in proc.stdout and "sweep_summary.json, comparison/report.html" in proc.stdout


def test_probe_correlations_equal_scipy_on_the_childrens_metrics(tmp_path):
    sweep = runner.sweep(
        "model=none", "tokenizer=bert_base_uncased,roberta_base,cl100k_base", "probe=bag_of_tokens",
        "dataset=json_file", f"dataset.path={NLI}", "dataset.text_column=premise",
        "dataset.label_column=source", "dataset.distinct=true", f"tracking.uri=sqlite:///{tmp_path}/m.db",
    )  # fmt: skip
    children = sweep.children
    assert len(children) == 3 and all(c.status == "FINISHED" for c in children)
    assert {c.metrics["probe/examples"] for c in children} == {334.0}  # the distinct premises
    table = sweep.probe
    assert table is not None and len(table) > 5
    y = [c.metrics["probe/accuracy"] for c in children]
    for row in table.itertuples():
        x = [c.metrics[row.measure] for c in children]
        assert row.spearman == pytest.approx(spearmanr(x, y).statistic, abs=1e-12), row.measure
        assert row.kendall == pytest.approx(kendalltau(x, y).statistic, abs=1e-12), row.measure
        assert row.n == 3
    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    page = Path(client.download_artifacts(sweep.id, "comparison/report.html", str(tmp_path))).read_text()
    assert "id='verdict-table'" in page and "id='probe-correlations'" in page
    assert page.index("id='verdict-table'") < page.index("id='metrics'")  # the answer comes first


def test_a_single_run_without_kiwi_opens_no_run(tmp_path, monkeypatch):
    """stats.morphemes=kiwi with kiwipiepy missing: one line naming the key, exit 2, no run (the
    preflight asks before the run opens)."""

    def missing():
        raise ImportError("No module named 'kiwipiepy'")

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setattr(morphemes, "_kiwi", missing)
    proc = invoke("model=none", "stats.morphemes=kiwi", f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: stats.morphemes=kiwi: needs kiwipiepy"), lines
    experiment = MlflowClient(uri).get_experiment_by_name("runner")
    assert experiment is None or MlflowClient(uri).search_runs([experiment.experiment_id]) == []

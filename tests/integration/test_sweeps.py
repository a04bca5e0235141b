"""Sweeps (`runner -m`) in a subprocess against a temporary sqlite store: parent and children,
reuse, comparison reports, fault isolation, launchers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

from runner.config import naming
from tests.helpers.invoking import invoke
from tests.helpers.paths import HUB
from tests.helpers.servers import artifact_names, runs_in


def test_sweep_parent_children_and_reuse(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(
        "-m",
        f"tracking.uri={uri}",
        "model=tiny_bert,tiny_roberta",
        "padding=longest,max_length",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tiny_roberta · max_length" in proc.stdout  # the summary table
    client, runs = runs_in(uri)
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    names = {c.info.run_name for c in children}  # what differs, in the order of the axes
    assert names == {f"{m} · {p}" for m in ("tiny_bert", "tiny_roberta") for p in ("longest", "max_length")}
    assert parent.info.run_name == f"model × padding · {parent.data.tags['sweep.id']}"
    assert parent.data.tags["sweep.shared"] == "dataset=sample"
    by_job = {int(c.data.tags["sweep.job_num"]): c.data.tags for c in children}
    assert [by_job[i]["cache/model"] for i in range(4)] == ["miss", "hit", "miss", "hit"]
    assert all(t["sweep.id"] == parent.data.tags["sweep.id"] for t in by_job.values())
    assert "sweep_summary.json" in artifact_names(client, parent.info.run_id)
    assert "tiny_bert" in parent.data.tags["mlflow.note.content"]


def test_sweep_survives_a_bad_job(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke("-m", f"tracking.uri={uri}", "dataset=sample,csv_file", cwd=tmp_path)
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout and "FINISHED" in proc.stdout  # the table
    _, runs = runs_in(uri)
    children = {r.data.tags["choice.dataset"]: r for r in runs if r.data.tags.get("mlflow.parentRunId")}
    assert children["sample"].info.status == "FINISHED"
    assert children["csv_file"].info.status == "FAILED"
    assert "dataset.path=data.csv" in children["csv_file"].data.tags["error"]


def test_comparison_report_for_bert_vs_roberta(tmp_path):

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert invoke(f"tracking.uri={uri}", "experiment=bert_vs_roberta", cwd=tmp_path).returncode == 0
    client, runs = runs_in(uri, "bert_vs_roberta")
    parent_id = next(r for r in runs if r.data.tags.get("runner.role") == "sweep").info.run_id
    proc = subprocess.run(  # --parent alone: the sweep's own experiment is found from the run
        [sys.executable, "-m", "runner.commands", "compare", "--tracking-uri", uri, "--parent", parent_id]
        + ["--out", str(tmp_path / "cmp")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sample_pairs: ranked by tokens/fertility, lowest first" in proc.stdout  # the verdict, per dataset
    assert "roberta_base" in proc.stdout and "(fert = tokens/fertility" in proc.stdout
    description = client.get_run(parent_id).data.tags["mlflow.note.content"]
    assert description.startswith("**invariance: ")  # the verdict, as the sweep's end wrote it
    assert "job  run" in description and "tokens/fertility" in description  # jobs and metrics tables
    page = (tmp_path / "cmp" / "report.html").read_text(encoding="utf-8")
    assert "id='metrics'" in page and "tokens/fertility" in page and "tokens/roundtrip_exact" in page
    assert "id='token-diff'" in page and "[CLS]" in page and "&lt;s&gt;" in page
    # the real tokenizers on the same Korean sentence: BERT's jamo and [UNK], RoBERTa's bytes
    assert "part of a character'>ᅥ</span><span class='covers'>서</span>" in page
    assert "&lt;0x9C&gt;</span><span class='covers'>서</span>" in page
    assert "class='unk' title='unknown token for " in page
    assert "id='roundtrip'" in page and "<del>" in page  # bert-base-uncased does not round-trip Korean
    for name in ("token_lengths.png", "pad_fraction.png", "time_breakdown.png"):
        assert (tmp_path / "cmp" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert {r.data.tags["tokenizer.class"] for r in children} == {"BertTokenizer", "RobertaTokenizer"}
    assert {r.data.tags["tokenizer.vocab_size"] for r in children} == {"30522", "50265"}
    korean = {
        r.data.tags["tokenizer.class"]: r.data.metrics["script/Hangul/roundtrip_exact"]
        for r in children
        if r.data.tags["choice.dataset"] == "sample"
    }
    assert korean == {"BertTokenizer": 0.0, "RobertaTokenizer": 1.0}
    assert {r.data.tags["tokenizer.returns_token_type_ids"] for r in children} == {"true", "false"}
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    logged = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"report.html", "token_lengths.png", "agreement.json"} <= logged
    agreement = client.download_artifacts(parent.info.run_id, "comparison/agreement.json", str(tmp_path))
    table = json.loads(Path(agreement).read_text(encoding="utf-8"))
    assert table["columns"][:5] == ["run_a", "run_b", "name_a", "name_b", "boundary_f1"]
    assert len(table["data"]) == 2  # BERT vs RoBERTa on the texts, and on the pairs
    assert "id='agreement-matrix'" in page
    assert "fertility" in client.get_run(parent.info.run_id).data.tags["mlflow.note.content"]
    comparison_joins_texts(client, parent.info.run_id, children, tmp_path)


def comparison_joins_texts(client, parent: str, children: list, tmp_path: Path) -> None:
    """Two datasets of different lengths sharing a text (sample: 10, sample_pairs: 5): one table
    per dataset, every cell of a row holds the tokens of that row's text — recounted with the
    tokenizer itself — with integer counts and no empty cell."""
    from transformers import AutoTokenizer

    from runner import api

    tables = api.load(parent, client.tracking_uri).comparisons
    assert set(tables) == {"sample", "sample_pairs"}
    assert [len(tables["sample"]), len(tables["sample_pairs"])] == [10, 5]
    folders = {"bert_base_uncased": HUB / "bert-base-uncased", "roberta_base": HUB / "roberta-base"}
    for dataset, table in tables.items():
        runs = [c for c in children if c.data.tags["choice.dataset"] == dataset]
        assert len(runs) == 2 and not table.isna().any().any()
        for run in runs:
            tok = AutoTokenizer.from_pretrained(str(folders[run.data.tags["choice.tokenizer"]]))
            counts = table[f"{run.info.run_name} · n"]
            assert counts.dtype.kind == "i"
            pairs = table["text_pair"] if "text_pair" in table else [None] * len(table)
            expected = [len(tok(t, p)["input_ids"]) for t, p in zip(table["text"], pairs, strict=True)]
            assert counts.tolist() == expected


def test_fail_fast_stops_the_sweep_and_fails_the_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(
        "-m", f"tracking.uri={uri}", "dataset=csv_file,sample", "sweep.fail_fast=true", cwd=tmp_path
    )
    assert proc.returncode != 0
    _, runs = runs_in(uri)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    assert [c.data.tags["choice.dataset"] for c in children] == ["csv_file"]  # sample never ran
    assert children[0].info.status == "FAILED"
    assert parent.info.status == "FAILED" and "fail_fast" in parent.data.tags["error"]


def test_skip_finished_skips_an_identical_config(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert invoke(f"tracking.uri={uri}", "model=none", cwd=tmp_path).returncode == 0
    proc = invoke(f"tracking.uri={uri}", "model=none", "sweep.skip_finished=true", cwd=tmp_path)
    assert proc.returncode == 0 and "skipped" in proc.stderr
    changed = invoke(
        f"tracking.uri={uri}", "model=none", "padding=do_not_pad", "sweep.skip_finished=true", cwd=tmp_path
    )
    assert changed.returncode == 0 and "skipped" not in changed.stderr
    _, runs = runs_in(uri)
    assert len(runs) == 2


def test_udhr_sweep_puts_a_parity_heatmap_in_the_parents_report(tmp_path, fixtures):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    hub = HUB
    proc = invoke(
        "-m",
        f"tracking.uri={uri}",
        "model=none",
        "dataset=udhr_parallel",
        "tokenizer.truncation=false",
        f"tokenizer.name_or_path={hub / 'bert-base-uncased'},{hub / 'roberta-base'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    client, runs = runs_in(uri)
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 2 and all(c.data.metrics["parity/eng"] == 1.0 for c in children)
    logged = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"parity_heatmap.png", "script_fertility.png", "report.html", "tokens.json"} <= logged
    page = Path(client.download_artifacts(parent.info.run_id, "comparison/report.html", str(tmp_path)))
    html = page.read_text(encoding="utf-8")
    assert "alt='parity_heatmap.png' src='data:image/png;base64," in html
    assert "[kor] #0" in html and "[tha] #0" in html  # examples per (column, index)


def test_slurm_without_srun_names_the_launcher_and_closes_the_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke("-m", "hydra/launcher=slurm", "model=none", f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("error: hydra/launcher=slurm")
        and "submitit_local" in lines[0]
    )
    _, runs = runs_in(uri)
    assert [(r.data.tags.get("runner.role"), r.info.status) for r in runs] == [("sweep", "FAILED")]


def test_load_times_do_not_depend_on_job_order(tmp_path):
    """The process warms up before the first job's timers (logged once as time/process_warmup_s
    on the parent), so the first model of a sweep no longer pays everyone's one-off costs."""
    loads = {}
    for order in ("tiny_bert,tiny_roberta", "tiny_roberta,tiny_bert"):
        uri = f"sqlite:///{tmp_path}/{order.replace(',', '-')}.db"
        proc = invoke("-m", f"tracking.uri={uri}", f"model={order}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _, runs = runs_in(uri)
        parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
        assert parent.data.metrics["time/process_warmup_s"] > 0  # logged once, on the parent
        for run in runs:
            if run.data.tags.get("mlflow.parentRunId"):
                assert run.data.tags["cache/model"] == "miss"
                loads[(order, run.data.tags["choice.model"])] = run.data.metrics["time/load_model_s"]
    assert len(loads) == 4
    for model in ("tiny_bert", "tiny_roberta"):
        first, second = loads[("tiny_bert,tiny_roberta", model)], loads[("tiny_roberta,tiny_bert", model)]
        assert abs(first - second) < 0.3, (model, first, second)  # was 1.7 s vs 0.02 s


def test_inner_jobs_fail_alone_and_join_the_summary(tmp_path):
    """A packed job whose second inner combination fails: that child ends FAILED, the first
    FINISHED, the sweep exits 1 and its table lists both as 0.0 and 0.1."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    inner = 'sweep.inner="tokenizer.max_length=16,4096"'
    proc = invoke("-m", f"tracking.uri={uri}", "model=tiny_bert", inner, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    _, runs = runs_in(uri)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    got = sorted((c.data.tags["sweep.job_num"], c.info.status) for c in children)
    assert got == [("0.0", "FINISHED"), ("0.1", "FAILED")]
    table = [line.split()[0] for line in proc.stdout.splitlines() if line[:3] in ("0.0", "0.1")]
    assert table == ["0.0", "0.1"]
    again = invoke(
        "-m", f"tracking.uri={uri}", "model=tiny_bert", inner, "sweep.skip_finished=true", cwd=tmp_path
    )
    assert again.returncode == 1  # the failed combination runs (and fails) again
    skipped = [x for x in again.stderr.splitlines() if x.startswith("skipped: this config already FINISHED")]
    finished = next(c.info.run_id for c in children if c.info.status == "FINISHED")
    assert len(skipped) == 1 and finished in skipped[0]  # the finished combination is not redone


def test_inner_grid_needs_a_sweep_and_hydra_syntax(tmp_path):
    single = invoke('sweep.inner="padding=longest,max_length"', cwd=tmp_path)
    assert single.returncode == 2
    lines = [x for x in single.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "sweep.inner" in lines[0] and "add -m" in lines[0], single.stderr
    uri = f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"
    broken = invoke("-m", uri, 'sweep.inner="padding=[longest"', cwd=tmp_path)
    assert broken.returncode == 2
    assert "is not a grid in Hydra's sweep syntax" in broken.stderr, broken.stderr
    _, runs = runs_in(uri.removeprefix("tracking.uri="))
    assert [(r.data.tags.get("runner.role"), r.info.status) for r in runs] == [("sweep", "FAILED")]


def test_glob_range_and_choice_sweeps_keep_one_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(
        "-m",
        f"tracking.uri={uri}",
        "model=none",
        "tokenizer=glob(tiny_*)",
        "runtime.batch_size=range(16,33,16)",
        "padding=choice(longest,do_not_pad)",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Callback" not in proc.stderr
    _, runs = runs_in(uri)
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 8 and all(c.info.status == "FINISHED" for c in children)
    values = {
        "tokenizer": ["tiny_bert", "tiny_roberta"],
        "batch_size": ["batch_size=16", "batch_size=32"],
        "padding": ["longest", "do_not_pad"],
    }
    order = naming.axis_order(list(values), values)  # the axes that tell names apart first
    names = {c.info.run_name for c in children}
    assert names == {" · ".join(combo) for combo in itertools.product(*(values[k] for k in order))}

    def told_apart(axes) -> int:
        combos = itertools.product(*(values[k] for k in axes))
        return len({" · ".join(c)[: naming.SHOWN] for c in combos})

    assert len({n[: naming.SHOWN] for n in names}) == max(map(told_apart, itertools.permutations(values)))
    assert told_apart(order) > told_apart(values)  # the sweep's own order tells fewer apart
    assert parents[0].info.run_name.startswith("tokenizer × batch_size × padding · ")
    assert "comparison/report.html" in proc.stdout


def test_interval_sweep_fails_with_one_line(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(
        "-m", f"tracking.uri={uri}", "model=none", "tokenizer.max_length=interval(8,64)", cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "tokenizer.max_length: interval()" in lines[0] and "range(" in lines[0]
    assert "Traceback" not in proc.stderr


def test_sweep_against_an_unreachable_server_fails_fast(tmp_path):
    from tests.helpers.servers import free_port

    start = time.monotonic()
    proc = invoke(
        "-m",
        f"tracking.uri=http://127.0.0.1:{free_port()}",
        "model=none",
        "padding=longest,do_not_pad",
        cwd=tmp_path,
    )
    assert time.monotonic() - start < 30
    assert proc.returncode == 1, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "no tracking server answers" in lines[0]
    assert "Traceback" not in proc.stderr and "FINISHED" not in proc.stdout  # no job ran


def test_ray_preset_with_no_cluster_fails_within_the_bound(tmp_path):
    from tests.helpers.servers import free_port

    address = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = invoke(
        "-m",
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={address}",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        "model=none",
        "padding=longest,do_not_pad",
        cwd=tmp_path,
        timeout=120,
    )
    assert time.monotonic() - start < 60
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and address in lines[0] and "ray start --head" in lines[0]

"""Extensions by entry point: a package pip-installed (tests/plugin) adds a head and a data source
that the `runner` command and the workers of a joblib sweep find with no code of the user's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runner.errors import ConfigError
from runner.registry import Registry
from tests.helpers.invoking import run_cli
from tests.helpers.paths import ROOT

LINES = ["첫 번째 줄입니다", "the second line", "三番目の行"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The plugin installed by pip into a folder of its own, put on the path of every process."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), str(ROOT / "tests" / "plugin")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(target.glob("runner_test_plugin-0.1.0.dist-info/entry_points.txt"))
    return {"PYTHONPATH": str(target)}


def _runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_the_command_finds_an_installed_head_and_source(installed, tmp_path):
    from mlflow import MlflowClient

    (tmp_path / "lines.txt").write_text("\n".join(LINES), encoding="utf-8")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    overrides = ["model=tiny_bert", "model.head=max_pool", "dataset.source=reversed_lines"]
    proc = run_cli(*overrides, "dataset.path=lines.txt", f"tracking.uri={uri}", cwd=tmp_path, env=installed)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = _runs(uri)
    assert run.info.status == "FINISHED" and run.data.params["model.head"] == "max_pool"
    assert "model.num_labels" not in run.data.tags  # a body: no label tags
    client = MlflowClient(tracking_uri=uri)
    tokens = json.loads(
        Path(client.download_artifacts(run.info.run_id, "tokens.json", str(tmp_path))).read_text()
    )
    assert [row[tokens["columns"].index("text")] for row in tokens["data"]] == [t[::-1] for t in LINES]
    predictions = Path(client.download_artifacts(run.info.run_id, "predictions.json", str(tmp_path)))
    peaks = json.loads(predictions.read_text())
    assert "peak" in peaks["columns"] and len(peaks["data"]) == len(LINES)
    assert all(np.isfinite(row[peaks["columns"].index("peak")]) for row in peaks["data"])


def test_joblib_workers_find_them_and_a_body_gets_no_label_flips(installed, tmp_path):
    (tmp_path / "lines.txt").write_text("\n".join(LINES), encoding="utf-8")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=tiny_bert",
        "model.head=max_pool",
        "dataset.source=reversed_lines",
        "dataset.path=lines.txt",
        "padding=longest,do_not_pad",
        f"tracking.uri={uri}",
        cwd=tmp_path,
        env=installed,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    children = [r for r in _runs(uri) if r.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 2 and {r.info.status for r in children} == {"FINISHED"}
    assert {r.data.params["model.head"] for r in children} == {"max_pool"}
    compared = [r for r in children if "invariance/max_abs_diff" in r.data.metrics]
    assert compared and not any("invariance/label_flips" in r.data.metrics for r in compared)


def test_without_the_package_the_head_is_one_line(tmp_path):
    proc = run_cli("model=tiny_bert", "model.head=max_pool", cwd=tmp_path)
    assert proc.returncode == 2
    assert "model.head: 'max_pool' is not a head" in proc.stderr


def test_a_name_taken_twice_is_refused():
    registry: Registry[int] = Registry(
        "runner.tests", "thing", {"a": 1}, accepts=lambda e: isinstance(e, int)
    )
    registry.register("b", 2)
    with pytest.raises(ConfigError, match="registered already"):
        registry.register("a", 3)
    with pytest.raises(ConfigError, match="registered already"):
        registry["a"] = 4  # no way around the check
    with pytest.raises(ConfigError, match="is not a thing"):
        registry.register("c", "three")
    assert dict(registry) == {"a": 1, "b": 2}


def test_an_entry_point_shadowing_a_builtin_is_one_line(installed, monkeypatch):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"])
    registry: Registry[object] = Registry(
        "runner.heads", "head", {"max_pool": object()}, accepts=lambda e: True
    )
    with pytest.raises(ConfigError) as info:
        _ = "max_pool" in registry  # the first lookup finds the installed entries
    assert (
        info.value.key == "entry point runner.heads:max_pool" and "runner-test-plugin" in info.value.problem
    )


def test_an_installed_entry_is_found_on_the_first_lookup_without_a_job(installed):
    """runner-compare, runner-sync and runner.load never run a job: the registries find the
    installed entries on their first lookup, whatever asks."""
    code = (
        "from runner.model import heads; from runner.data import sources; "
        "print(heads.of('max_pool') is not None, 'reversed_lines' in sources.SOURCES, "
        "'max_pool' in list(heads.HEADS))"
    )
    env = {**__import__("os").environ, **installed}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]


def test_an_installed_statistic_has_its_switch(installed, tmp_path):
    """stats.<name> for an installed statistic, as for a built-in family: on by default, off by
    stats.longest_piece=false."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    on = run_cli("model=none", "tokenizer=roberta_base", f"tracking.uri={uri}", cwd=tmp_path, env=installed)
    off = run_cli(
        "model=none", "tokenizer=roberta_base", "stats.longest_piece=false", f"tracking.uri={uri}",
        cwd=tmp_path, env=installed,
    )  # fmt: skip
    assert on.returncode == off.returncode == 0, on.stderr[-2000:] + off.stderr[-2000:]
    by_switch = {r.data.params.get("stats.longest_piece"): r for r in _runs(uri)}
    assert by_switch["True"].data.metrics["mine/longest_piece_chars"] > 0
    assert "mine/longest_piece_chars" not in by_switch["False"].data.metrics
    assert "tokens/fertility" in by_switch["False"].data.metrics  # the others stay on

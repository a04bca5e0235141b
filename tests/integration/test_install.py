"""A non-editable wheel finds conf/ (shipped as the package runner.conf) from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from tests.helpers.paths import ROOT


def test_wheel_ships_conf_and_runs_from_elsewhere(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    configs = [n for n in names if n.startswith("runner/conf/") and n.endswith(".yaml")]
    assert "runner/conf/config.yaml" in configs and "runner/conf/model/tiny_bert.yaml" in configs
    assert len(configs) == len(list((ROOT / "conf").rglob("*.yaml")))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "MLFLOW_TRACKING_URI": ""}
    probe = subprocess.run(
        [sys.executable, "-c", "import runner; print(runner.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(tmp_path / "site"))  # the wheel, not the checkout
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "model=none", "dataset=sample_pairs"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FINISHED" in proc.stdout and (elsewhere / "outputs" / "mlflow.db").exists()

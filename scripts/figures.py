"""Regenerates the figures of docs/design.md from a real run: `experiment=vocab_size` in a fresh
store, its results as the table between the `<!-- figures:vocab_size -->` markers, and a
screenshot of the report's curves taken in Chromium through a real `mlflow ui`.

    .venv/bin/python scripts/figures.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "design.md"
COLUMNS = {
    "tokens/fertility": "fertility",
    "tokens/chars_per_token": "chars/token",
    "tokens/unk_rate": "UNK rate",
    "tokens/split_char_rate": "split chars",
    "tokens/renyi_efficiency": "Rényi eff.",
    "tokens/roundtrip_exact": "round trip",
    "time/train_tokenizer_s": "train s",
}


def table(sweep) -> str:
    """One row per child: algorithm, vocabulary asked and reached, the measures."""
    head = ["algorithm", "vocab_size", "reached", *COLUMNS.values(), "train/overlap"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for child in sweep.children:
        p, t, m = child.params, child.tags, child.metrics
        cells = [p["tokenizer.train.algorithm"], p["tokenizer.train.vocab_size"]]
        cells.append(t["tokenizer.train.vocab_size_reached"])
        cells += [f"{m[k]:.3f}" if k != "tokens/unk_rate" else f"{m[k]:.4f}" for k in COLUMNS]
        cells.append(f"{m['train/overlap']:.0f}")
        rows.append(cells)
    rows.sort(key=lambda c: (c[0], int(c[1])))
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def screenshot(uri: str, sweep, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = 5077
    ui = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1"]
        + ["--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        experiment = sweep.parent._mlflow.info.experiment_id
        page_url = f"{url}/#/experiments/{experiment}/runs/{sweep.id}/artifacts/comparison/report.html"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(page_url)
            page.wait_for_selector("iframe", timeout=60_000)
            frame = page.frame_locator("iframe").first
            curves = frame.locator("img[alt='curves_vocab_size.png']")
            curves.wait_for(timeout=60_000)
            curves.screenshot(path=str(out))
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=30)


def main() -> None:
    import os

    import runner

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.chdir(tmp)
        sweep = runner.sweep("experiment=vocab_size")
        text = DOC.read_text(encoding="utf-8")
        block = f"<!-- figures:vocab_size -->\n{table(sweep)}\n<!-- /figures:vocab_size -->"
        text = re.sub(r"<!-- figures:vocab_size -->.*?<!-- /figures:vocab_size -->", block, text, flags=re.S)
        DOC.write_text(text, encoding="utf-8")
        screenshot(uri, sweep, ROOT / "docs" / "design-curves.png")
    print(f"updated {DOC.relative_to(ROOT)} and docs/design-curves.png")


if __name__ == "__main__":
    main()

"""Regenerates figures of the docs from real runs in a fresh store: `experiment=korean_tokenizers`
as the table in docs/statistics.md, `experiment=vocab_size` as the table in docs/design.md (each
between its `<!-- figures:… -->` markers) and a screenshot of the report's curves taken in
Chromium through a real `mlflow ui`.

    .venv/bin/python scripts/figures.py            # both
    .venv/bin/python scripts/figures.py --korean   # experiment=korean_tokenizers only
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
STATS_DOC = ROOT / "docs" / "statistics.md"
KOREAN = {
    "tokens/fertility": "fertility",
    "script/Hangul/fertility": "Hangul fertility",
    "tokens/unk_rate": "UNK rate",
    "script/Hangul/split_char_rate": "Hangul split chars",
    "script/Hangul/roundtrip_exact": "Hangul round trip",
    "morph/boundary_precision": "morph P",
    "morph/boundary_recall": "morph R",
    "morph/boundary_f1": "morph F1",
    "morph/aligned_token_share": "aligned share",
}
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


def korean_table(sweep) -> str:
    head = ["tokenizer", "tokens", *KOREAN.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for child in sweep.children:
        m = child.metrics
        cells = [child.tags["choice.tokenizer"], f"{m['tokens/total']:.0f}"]
        cells += [f"{m[k]:.3f}" if k in m else "–" for k in KOREAN]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace(doc: Path, marker: str, text: str) -> None:
    body = doc.read_text(encoding="utf-8")
    block = f"<!-- figures:{marker} -->\n{text}\n<!-- /figures:{marker} -->"
    pattern = rf"<!-- figures:{marker} -->.*?<!-- /figures:{marker} -->"
    doc.write_text(re.sub(pattern, lambda _: block, body, flags=re.S), encoding="utf-8")


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
        korean = runner.sweep("experiment=korean_tokenizers")
        replace(STATS_DOC, "korean_tokenizers", korean_table(korean))
        if "--korean" in sys.argv:
            print("updated docs/statistics.md")
            return
        sweep = runner.sweep("experiment=vocab_size")
        replace(DOC, "vocab_size", table(sweep))
        screenshot(uri, sweep, ROOT / "docs" / "design-curves.png")
    print("updated docs/statistics.md, docs/design.md and docs/design-curves.png")


if __name__ == "__main__":
    main()

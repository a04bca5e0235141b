"""Regenerates figures of the docs from real runs in a fresh store: `experiment=korean_tokenizers`
as the table in docs/statistics.md and a screenshot of its report at a Korean sentence,
`experiment=vocab_size` as the table in docs/design.md (each
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


def curves(frame, out: Path) -> None:
    """The report's curves over vocab_size."""
    image = frame.locator("img[alt='curves_vocab_size.png']")
    image.wait_for(timeout=60_000)
    image.screenshot(path=str(out))


def korean_example(page, out: Path) -> None:
    """The report at its shortest Korean example: Kiwi's morphemes above each tokenizer's pieces
    (the page the dashboard frames, opened whole from the same server so the example fits)."""
    sections = page.locator("section.ex")
    sections.first.wait_for(timeout=60_000)
    titles = sections.evaluate_all("s => s.map(e => e.querySelector('h3, h4, h2').innerText)")
    korean = [i for i, t in enumerate(titles) if re.search("[가-힣]", t) and "‖" not in t]
    shortest = min(korean, key=lambda i: len(titles[i]))
    sections.nth(shortest).screenshot(path=str(out))


def screenshot(uri: str, sweep, out: Path, shoot, whole: bool = False) -> None:
    """`shoot` the sweep's report inside the dashboard (its frame), or with `whole` the report
    page itself as the same `mlflow ui` serves it."""
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
            if whole:
                served = f"{url}/get-artifact?path=comparison/report.html&run_uuid={sweep.id}"
                page.set_content(urllib.request.urlopen(served, timeout=60).read().decode())  # served as a download
                shoot(page, out)
            else:
                page.goto(page_url)
                page.wait_for_selector("iframe", timeout=60_000)
                shoot(page.frame_locator("iframe").first, out)
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
        screenshot(uri, korean, ROOT / "docs" / "morphemes-report.png", korean_example, whole=True)
        if "--korean" in sys.argv:
            print("updated docs/statistics.md and docs/morphemes-report.png")
            return
        sweep = runner.sweep("experiment=vocab_size")
        replace(DOC, "vocab_size", table(sweep))
        screenshot(uri, sweep, ROOT / "docs" / "design-curves.png", curves)
    print("updated docs/statistics.md, docs/morphemes-report.png, docs/design.md and docs/design-curves.png")


if __name__ == "__main__":
    main()

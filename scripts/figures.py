"""Regenerates figures of the docs from real runs in a fresh store: `experiment=korean_tokenizers`
as the table in docs/statistics.md and a screenshot of its report at a Korean sentence,
`experiment=vocab_size` as the table in docs/design.md (each
between its `<!-- figures:… -->` markers) and a screenshot of the report's curves taken in
Chromium through a real `mlflow ui`.

    .venv/bin/python scripts/figures.py            # both
    .venv/bin/python scripts/figures.py --korean   # experiment=korean_tokenizers only
    .venv/bin/python scripts/figures.py --probe    # experiment=korean_probe only (docs/probe.md)
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


PROBE_DOC = ROOT / "docs" / "probe.md"
PROBE = {
    "probe/macro_f1": "macro F1",
    "probe/majority": "majority",
    "tokens/fertility": "fertility",
    "script/Hangul/split_char_rate": "Hangul split chars",
    "morph/boundary_f1": "morph F1",
    "tokens/renyi_efficiency": "Rényi eff.",
}


def probe_table(sweep) -> str:
    """Per task, one row per tokenizer (best probe first): accuracy with its interval, the rest."""
    head = ["task", "tokenizer", "probe accuracy [95 % interval]", *PROBE.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    children = sorted(sweep.children, key=lambda c: (c.tags["choice.dataset"], -c.metrics["probe/accuracy"]))
    for child in children:
        m = child.metrics
        accuracy = (
            f"{m['probe/accuracy']:.3f} [{m['probe/accuracy_low']:.3f}, {m['probe/accuracy_high']:.3f}]"
        )
        cells = [child.tags["choice.dataset"], child.tags["choice.tokenizer"], accuracy]
        cells += [f"{m[k]:.3f}" if k in m else "–" for k in PROBE]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def correlation_table(sweep) -> str:
    """comparison/probe.json as the docs show it: per task, the three best and the worst predictor."""
    frame = sweep.probe
    lines = ["| task | measure | Spearman | Kendall | n |", "|---|---|---|---|---|"]
    for dataset, rows in frame.groupby("dataset", sort=True):
        shown = [*rows.head(3).itertuples(), *rows.tail(1).itertuples()]
        for r in shown:
            lines.append(f"| {dataset} | {r.measure} | {r.spearman:+.2f} | {r.kendall:+.2f} | {r.n} |")
    return "\n".join(lines)


def first_screen(page, out: Path) -> None:
    """The report's first screen, as a reviewer opens it: the verdict table on top."""
    page.locator("#verdict").wait_for(timeout=60_000)
    page.screenshot(path=str(out))


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
                page.set_content(
                    urllib.request.urlopen(served, timeout=60).read().decode()
                )  # served as a download
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
        if "--probe" in sys.argv:
            probe = runner.sweep("experiment=korean_probe")
            replace(PROBE_DOC, "korean_probe", probe_table(probe))
            replace(PROBE_DOC, "korean_probe_correlations", correlation_table(probe))
            screenshot(uri, probe, ROOT / "docs" / "probe-report.png", first_screen, whole=True)
            print("updated docs/probe.md and docs/probe-report.png")
            return
        korean = runner.sweep("experiment=korean_tokenizers")
        replace(STATS_DOC, "korean_tokenizers", korean_table(korean))
        screenshot(uri, korean, ROOT / "docs" / "morphemes-report.png", korean_example, whole=True)
        screenshot(uri, korean, ROOT / "docs" / "korean-verdict.png", first_screen, whole=True)
        if "--korean" in sys.argv:
            print("updated docs/statistics.md and docs/morphemes-report.png")
            return
        sweep = runner.sweep("experiment=vocab_size")
        replace(DOC, "vocab_size", table(sweep))
        screenshot(uri, sweep, ROOT / "docs" / "design-curves.png", curves)
    print("updated docs/statistics.md, docs/morphemes-report.png, docs/design.md and docs/design-curves.png")


if __name__ == "__main__":
    main()

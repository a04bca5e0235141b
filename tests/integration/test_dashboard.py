"""Reviewing a BERT-vs-RoBERTa sweep as a user does: the files on the parent run, then a real
`mlflow ui` driven through Chromium (Playwright). Screenshots go to outputs/dashboard/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import regex
from mlflow import MlflowClient

from runner.analysis import report
from tests.helpers.invoking import invoke
from tests.helpers.paths import ROOT
from tests.helpers.servers import chromium_path, mlflow_ui

SHOTS = ROOT / "outputs" / "dashboard"
VIEW = "workflowType=machine_learning"  # MLflow 3's runs / model-training view
HANGUL = regex.compile(r"\p{Hangul}")
BYTE_SYMBOLS = re.compile("[ìëêíĤĥĬĺłĳ]")  # byte-level BPE's stand-ins for UTF-8 bytes of Hangul


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, assets_dir):
    """The issue's sweep: two real tokenizers × two paddings on the Korean/English sample."""
    tmp = tmp_path_factory.mktemp("dashboard")
    uri = f"sqlite:///{tmp}/mlflow.db"
    proc = invoke(
        "-m",
        "model=none",
        "tokenizer=bert_base_uncased,roberta_base",  # the real tokenizers, bundled
        "padding=longest,do_not_pad",
        "stats.roundtrip=true",  # the report's round-trip section, Korean loss shown by code point
        f"tracking.uri={uri}",
        cwd=tmp,
        env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("runner").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return {"uri": uri, "tmp": tmp, "proc": proc, "client": client, "parent": parent, "children": children}


@pytest.fixture(scope="module")
def ui(sweep):
    """One real `mlflow ui` on the sweep's store for the browser tests (the tour runs first, so
    its screenshots show only the sweep's experiment)."""
    with mlflow_ui(sweep["uri"]) as url:
        yield url


def download(sweep, path: str) -> Path:
    return Path(sweep["client"].download_artifacts(sweep["parent"].info.run_id, path, str(sweep["tmp"])))


def test_children_have_distinct_names_that_say_which_tokenizer(sweep):
    names = [c.info.run_name for c in sweep["children"]]
    assert len(names) == 4 and len(set(names)) == 4
    assert sum("bert_base_uncased" in n for n in names) == 2
    assert sum("roberta_base" in n for n in names) == 2
    assert not any("/" in n for n in names)  # paths by their last component


def test_sweep_prints_one_table_and_the_parents_links(sweep):
    out = sweep["proc"].stdout
    assert (
        not re.search(r"\nrun [0-9a-f]{32} ", out) and out.count("sweep parent run") == 1
    )  # no per-job summaries
    parent = sweep["parent"].info.run_id
    assert f"/runs/{parent}?workflowType=machine_learning" in out
    assert "View run" not in out + sweep["proc"].stderr  # MLflow's own lines stay out


def test_parent_holds_the_comparison_table(sweep):
    table = json.loads(download(sweep, "comparison/tokens.json").read_text(encoding="utf-8"))
    rows = [dict(zip(table["columns"], r, strict=True)) for r in table["data"]]
    names = {c.info.run_name for c in sweep["children"]}
    assert names <= set(table["columns"]) and {f"{n} · n" for n in names} <= set(table["columns"])
    assert len(rows) == 10  # the sample's ten texts, one row each
    korean = next(r for r in rows if HANGUL.search(r["text"]))
    roberta = next(n for n in names if "roberta_base" in n and "longest" in n)
    pieces = korean[roberta].split(" | ")
    assert pieces[0] == "<s>" and pieces[-1] == "</s>" and "<pad>" not in pieces  # no pads
    assert HANGUL.search(korean[roberta]) and not BYTE_SYMBOLS.search(korean[roberta])
    assert korean[f"{roberta} · n"] == len(pieces)


def test_report_is_self_contained_and_shows_every_run(sweep):
    page = download(sweep, "comparison/report.html").read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) >= 3 and all(src.startswith("data:image/png;base64,") for src in images)
    for child in sweep["children"]:
        assert child.info.run_name in page
    assert "오늘 날씨가 정말 좋네요." in page and not BYTE_SYMBOLS.search(page)


def test_roberta_pieces_on_korean_are_the_text_or_its_bytes(sweep):
    client = sweep["client"]
    child = next(c for c in sweep["children"] if "roberta_base" in c.info.run_name)
    path = client.download_artifacts(child.info.run_id, "tokens.json", str(sweep["tmp"] / "rob"))
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = [dict(zip(table["columns"], r, strict=True)) for r in table["data"]]
    korean = [r for r in rows if HANGUL.search(r["text"])]
    assert len(korean) == 5
    for row in korean:
        assert len(row["pieces"]) == len(row["tokens"]) == len(row["special"])
        content = [
            (p, part)
            for p, part, s in zip(row["pieces"], row["partial"], row["special"], strict=True)
            if not s
        ]
        assert content and all(p in row["text"] for p, part in content if not part)
        # byte-level BPE splits syllables: flagged and shown as bytes, never mojibake
        assert any(part for _, part in content)
        assert all(re.fullmatch(r"\s?(<0x[0-9A-F]{2}>)+", p) for p, part in content if part)
        assert "".join(c or "" for c in row["covers"]) == "".join(row["text"].split())


def open_page(page, url: str, wait_for: str) -> None:
    page.goto(url)
    page.wait_for_selector(wait_for, timeout=60_000)
    close = page.locator("button[aria-label=Close]")  # MLflow's assistant panel, when it opens
    if close.count():
        close.first.click()


def pick(page, opener, option: str) -> None:
    """Choose one option of an MLflow dropdown."""
    opener.click()
    page.locator("[role=option]", has_text=re.compile(f"^{re.escape(option)}$")).click()
    page.keyboard.press("Escape")


def select_only(page, opener, wanted: str) -> None:
    """In a multi-select dropdown, leave exactly `wanted` checked."""
    for _ in range(5):  # one toggle per opening: the list re-renders after each click
        opener.click()
        options = page.locator("[role=option]")
        options.first.wait_for()
        wrong = [
            o
            for o in options.all()
            if (o.inner_text().strip() == wanted)
            != (o.locator("input").get_attribute("aria-checked") == "true")
        ]
        wrong.sort(key=lambda o: o.inner_text().strip() != wanted)  # add before removing
        if wrong:
            wrong[0].click()
        page.keyboard.press("Escape")
        if not wrong:
            return


def test_dashboard_tour_in_a_real_browser(sweep, ui):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    names = sorted(c.info.run_name for c in sweep["children"])
    link = re.search(r"runs:\s+(\S+)", sweep["proc"].stdout).group(1)
    url = ui
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # The printed link opens the runs table (model-training view); the parent expands.
        # the parent is named for what it compares, the children for what differs between them
        assert sweep["parent"].info.run_name.startswith("tokenizer × padding · ")
        assert len({n[:18] for n in names}) == 4  # distinct at MLflow's default column width
        assert names[0].startswith("do_not_pad · ")  # padding first: tokenizers share no prefix there
        open_page(page, link.replace("http://127.0.0.1:5000", url), "text=tokenizer × padding")
        page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
        for name in names:
            page.locator("[role=row] a", has_text=name).first.wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "1-runs-table.png")

        # Artifact view: Table tokens.json, Group by text, Compare pieces — one column per child.
        page.locator("label:has(input[name=runs-view-mode][value=ARTIFACT])").click()
        tables = page.locator("[data-testid=dropdown-tables]")
        select_only(page, tables, "tokens.json")
        assert tables.inner_text().split(":")[-1].strip() == "tokens.json"
        group = page.locator("button[aria-label^='Select \"group by\"']")
        select_only(page, group, "text")
        pick(page, page.locator("button[aria-label^='Dialog Combobox, selected option']"), "pieces")
        page.wait_for_selector("text=오늘 날씨가 정말 좋네요.", timeout=30_000)
        grid = page.locator("body").inner_text()
        for name in names:
            assert name in grid
        assert "날씨" in grid  # Hangul pieces side by side
        page.screenshot(path=SHOTS / "2-artifact-view-pieces.png")

        # The parent's comparison table and report, rendered inside the artifact viewer.
        parent = sweep["parent"].info.run_id
        base = f"{url}/#/experiments/{sweep['parent'].info.experiment_id}/runs/{parent}/artifacts"
        open_page(page, f"{base}/comparison/tokens.json?{VIEW}", "text=tokens.json")
        page.wait_for_selector("text=오늘 날씨가 정말 좋네요.", timeout=30_000)
        text = page.locator("body").inner_text()
        assert "bert_base_uncased" in text and "roberta_base" in text and "날씨" in text
        assert not BYTE_SYMBOLS.search(text)
        page.screenshot(path=SHOTS / "3-comparison-table.png")

        page.get_by_text("report.html", exact=True).click()  # as a user does, in the artifact tree
        page.wait_for_selector("iframe", timeout=60_000)
        frame = page.frame_locator("iframe").first
        frame.locator("#token-diff").wait_for(timeout=30_000)
        assert "오늘 날씨가 정말 좋네요." in frame.locator("body").inner_text()
        # the answer first: the verdict table, ranked by a stated measure, on the report's first screen
        verdict = frame.locator("#verdict-table")
        box, screen = verdict.bounding_box(), page.viewport_size
        assert box is not None and screen is not None and box["y"] + 40 < screen["height"], (box, screen)
        assert "ranked by tokens/fertility, lowest first" in frame.locator("#verdict ~ h3").first.inner_text()
        assert "tokens/fertility" in verdict.inner_text()
        # a Korean sentence: BERT's jamo and [UNK] beside RoBERTa's bytes, each character once
        korean = frame.locator("section.ex", has_text="서울은 대한민국의 수도입니다.").first
        assert "ᄉ" in korean.inner_text() and "<0xEC>" in korean.inner_text()
        page.screenshot(path=SHOTS / "4-report-in-mlflow.png")  # its first screen: the verdict
        # the same page on its own, at the Korean sentence
        report_file = sweep["client"].download_artifacts(parent, "comparison/report.html", str(sweep["tmp"]))
        alone = browser.new_page(viewport={"width": 1400, "height": 700})
        alone.goto(Path(report_file).as_uri())
        alone.locator("section.ex", has_text="서울은 대한민국의 수도입니다.").first.screenshot(
            path=SHOTS / "5-report-korean.png"
        )
        # bert-base-uncased gives 오늘 back as jamo (NFD): the loss is named by code point
        losses = alone.locator("ul.losses li", has_text="U+C624 U+B298").first
        assert "[NFC U+C624 U+B298 → NFD U+110B U+1169 U+1102 U+1173 U+11AF]" in losses.inner_text()
        losses.screenshot(path=SHOTS / "6-report-roundtrip.png")
        browser.close()


AWKWARD = 'tok.v1.2 [ko] "q" 한국어 my_ko.csv'  # dots, brackets, quotes, Hangul, a file name


def test_comparison_table_renders_for_awkward_run_names(sweep, ui):
    """MLflow's table viewer shows a column empty when its name holds a dot: every per-run cell
    of comparison/tokens.json must still show, whatever the run is called."""
    from playwright.sync_api import sync_playwright

    tmp, uri = sweep["tmp"] / "awkward", sweep["uri"]  # its own experiment in the served store
    tmp.mkdir()
    proc = invoke(
        "-m",
        "model=none",
        "tokenizer=tiny_bert,tiny_roberta",
        f"tracking.run_name='{AWKWARD}'",
        f"tracking.uri={uri}",
        "tracking.experiment=awkward",
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("awkward").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    names = sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId"))
    assert names == [f"{AWKWARD} #0", f"{AWKWARD} #1"]
    path = client.download_artifacts(parent.info.run_id, "comparison/tokens.json", str(tmp / "cmp"))
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    assert not any("." in c for c in table["columns"])
    first = dict(zip(table["columns"], table["data"][0], strict=True))
    expected = [str(first[report.column(n)]) for n in names]  # the cells the viewer must show
    assert len(expected) == 2 and all(expected)
    base = f"/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}/artifacts"
    url = ui
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 2400, "height": 1000})
        open_page(page, f"{url}{base}/comparison/tokens.json?{VIEW}", "text=tokens.json")
        page.wait_for_selector("text=Hello, my dog is cute.", timeout=30_000)
        text = page.locator("body").inner_text()
        for name in names:
            assert report.column(name) in text  # the header, dots written as one-dot leaders
        counts = [str(first[report.column(f"{n} · n")]) for n in names]
        cells = page.locator("[role=cell], td").all_inner_texts()
        assert all(c in cells for c in counts), (counts, cells[:20])
        assert any(cell.startswith(expected[0][:20]) for cell in cells), expected[0][:20]
        browser.close()

"""The bad-input matrix: each case is the `runner` command run in-process (tests.helpers.invoking.invoke:
`cli.main` with the case's arguments, its exit code and output captured) against one shared
sqlite store; test_cli checks the same one-line errors and exit codes through real processes.

A bad case exits with its exact code and exactly one stderr line naming the key (no traceback):
a config error exits 2 before any run is opened; a data or model error exits 1 and leaves
exactly one FAILED run; a tracking error exits 1 with no run. An odd-but-valid case succeeds.
The last test checks that the store is still readable, holds no RUNNING run, and takes a new run.
"""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest
from mlflow import MlflowClient

from runner.model import tiny
from tests.helpers.invoking import invoke

OK = "ok"  # exit 0, one FINISHED run
CONFIG = "config"  # exit 2, no run opened
FAILED = "failed"  # exit 1, exactly one FAILED run keeping what it logged
NO_RUN = "no-run"  # exit 1, no run (the store or outputs/ cannot be used)


@pytest.fixture(scope="module")
def world(tmp_path_factory, assets_dir):
    """Files the cases point at, built once: data files and broken model folders."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "cwd").mkdir()
    pd.DataFrame({"text": ["one", "two"], "label": [0, 7]}).to_csv(root / "labels.csv", index=False)
    (root / "header_only.csv").write_text("text\n", encoding="utf-8")
    texts = [f"text number {i}" for i in range(12)]
    pd.DataFrame({"text": texts, "label": ["a"] * 12}).to_csv(root / "one_class.csv", index=False)
    labels = ["a", "b"] * 5 + [None, None]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(root / "unlabelled.csv", index=False)
    (root / "spaces.jsonl").write_text('{"text": "   "}\n{"text": "\\t\\n"}\n', encoding="utf-8")
    (root / "cp949.csv").write_bytes("text\n오늘 날씨\n".encode("cp949"))
    (root / "nul.txt").write_text("before\x00after\nplain line\n", encoding="utf-8")
    (root / "big.txt").write_text("word " * 200_000 + "\n", encoding="utf-8")  # one 1 MB text
    (root / "odd.txt").write_text(
        "🙂 emoji 👍🏽 and 🇰🇷\ne\u0301 combining a\u0308\nمرحبا بالعالم שלום\n", encoding="utf-8"
    )
    os.environ["RUNNER_ASSETS_DIR"] = str(assets_dir)  # the session's tiny models
    bert = tiny.ensure("bert")
    shutil.copytree(bert, root / "corrupt")
    (root / "corrupt" / "model.safetensors").write_bytes(b"not a safetensors file")
    shutil.copytree(bert, root / "remote")
    config = json.loads((root / "remote" / "config.json").read_text())
    config["model_type"] = "tinycustom"
    config["auto_map"] = {
        "AutoConfig": "configuration_tiny.TinyConfig",
        "AutoModel": "modeling_tiny.TinyModel",
    }
    (root / "remote" / "config.json").write_text(json.dumps(config))
    (root / "remote" / "configuration_tiny.py").write_text(
        "from transformers import BertConfig\nclass TinyConfig(BertConfig):\n    model_type = 'tinycustom'\n"
    )
    (root / "remote" / "modeling_tiny.py").write_text(
        "from transformers import BertModel\nclass TinyModel(BertModel):\n    pass\n"
    )
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    tok = AutoTokenizer.from_pretrained(bert)
    tok.pad_token = None
    tok.save_pretrained(root / "nopad")
    GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=600, n_positions=64)).save_pretrained(
        root / "gpt2"
    )
    AutoTokenizer.from_pretrained(bert).save_pretrained(root / "gpt2")
    (root / "userconf" / "model").mkdir(parents=True)
    (root / "userconf" / "model" / "broken.yaml").write_text("name_or_path: [unclosed\n  head: none\n")
    (root / "ro").mkdir()
    (root / "ro" / "outputs").write_text("a file where the outputs/ folder should be")
    from runner.tracking.tracker import Tracker

    Tracker(f"sqlite:///{root}/store.db", "runner")  # the store exists before cases run side by side
    return root


# (id, args, expected, key the one line must name); {root} is the world folder.
CASES = [
    # config
    ("unknown-key", ["model.nonexistent=1"], CONFIG, "model.nonexistent"),
    ("wrong-type", ["runtime.batch_size=lots"], CONFIG, "give a whole number, e.g. runtime.batch_size=32"),
    ("misspelt-group", ["models=tiny_bert"], CONFIG, "did you mean `model`?"),
    ("misspelt-key", ["tokenizer.max_lenght=3"], CONFIG, "did you mean `tokenizer.max_length`?"),
    ("unknown-enum", ["padding.strategy=bogus"], CONFIG, "padding.strategy"),
    ("batch-size-negative", ["runtime.batch_size=-4"], CONFIG, "runtime.batch_size"),
    ("batch-size-zero", ["runtime.batch_size=0"], CONFIG, "runtime.batch_size"),
    ("max-length-zero", ["tokenizer.max_length=0"], CONFIG, "tokenizer.max_length"),
    ("max-length-padding-without-length", ["padding.strategy=max_length"], CONFIG, "padding.strategy"),
    ("max-length-above-model", ["tokenizer.max_length=4096"], FAILED, "tokenizer.max_length=4096"),
    ("unknown-group-option", ["model=bogus"], CONFIG, "model/bogus"),
    ("ray-with-parallel-columns", ["dataset=udhr_parallel", "execution=ray"], CONFIG, "execution=ray"),
    (
        "ray-with-more-gpus-than-there-are",
        ["execution=ray", "execution.num_gpus=1"],
        CONFIG,
        "execution.num_gpus",
    ),
    (
        "ray-at-no-address",
        ["model=none", "execution=ray", "execution.address=127.0.0.1:9"],
        CONFIG,
        "execution.address",
    ),
    (
        "ray-without-workers",
        ["model=none", "execution=ray", "execution.num_workers=0"],
        CONFIG,
        "execution.num_workers",
    ),
    (
        "training-algorithm-outside-its-enum",
        ["model=none", "tokenizer=train", "tokenizer.train.algorithm=sp"],
        CONFIG,
        "tokenizer.train.algorithm",
    ),
    ("malformed-user-yaml", ["--config-dir", "{root}/userconf", "model=broken"], CONFIG, "broken.yaml"),
    (
        "train-without-tokenizer-train",
        ["model=none", "tokenizer.train.algorithm=bpe"],
        CONFIG,
        "add tokenizer=train",
    ),
    (
        "vocab-below-the-alphabet-unigram",
        ["model=none", "tokenizer=train", "tokenizer.train.dataset=null", "tokenizer.train.algorithm=unigram"]
        + ["tokenizer.train.vocab_size=10"],
        CONFIG,
        "use tokenizer.train.vocab_size=104 or more",
    ),
    (
        "vocab-below-the-alphabet-bpe",
        ["model=none", "tokenizer=train", "tokenizer.train.dataset=null", "tokenizer.train.algorithm=bpe"]
        + ["tokenizer.train.vocab_size=10"],
        CONFIG,
        "use tokenizer.train.vocab_size=84 or more",
    ),
    ("probe-without-label", ["model=none", "probe=bag_of_tokens"], CONFIG, "probe.label_column"),
    (
        "probe-embedding-no-model",
        ["model=none", "probe=embedding", "dataset.label_column=l"],
        CONFIG,
        "probe",
    ),
    (
        "probe-one-class",
        ["model=none", "probe=bag_of_tokens", "dataset=csv_file", "dataset.path={root}/one_class.csv"]
        + ["dataset.label_column=label"],
        CONFIG,
        "holds one class only",
    ),
    (
        "probe-class-thinner-than-folds",
        ["model=none", "probe=bag_of_tokens", "dataset=csv_file", "dataset.path={root}/labels.csv"]
        + ["dataset.label_column=label"],
        CONFIG,
        "fewer rows than probe.folds=5",
    ),
    (
        "probe-missing-labels",
        ["model=none", "probe=bag_of_tokens", "dataset=csv_file", "dataset.path={root}/unlabelled.csv"]
        + ["dataset.label_column=label"],
        CONFIG,
        "2 of 12 rows have no label",
    ),
    # data
    ("missing-file", ["dataset=csv_file", "dataset.path={root}/nope.csv"], CONFIG, "dataset.path"),  # < 2 s
    (
        "missing-column",
        ["dataset=csv_file", "dataset.path={root}/labels.csv", "dataset.text_column=review"],
        FAILED,
        "dataset.text_column=review",
    ),
    ("empty-dataset", ["dataset=csv_file", "dataset.path={root}/header_only.csv"], FAILED, "dataset.path"),
    (
        "only-whitespace",
        ["dataset=json_file", "dataset.path={root}/spaces.jsonl"],
        FAILED,
        "dataset.text_column",
    ),
    ("not-utf8", ["dataset=csv_file", "dataset.path={root}/cp949.csv"], FAILED, "dataset.path"),
    ("limit-zero", ["dataset.limit=0"], CONFIG, "dataset.limit"),
    (
        "label-out-of-range",
        [
            "model=tiny_classifier",
            "dataset=csv_file",
            "dataset.path={root}/labels.csv",
            "dataset.label_column=label",
        ],
        FAILED,
        "dataset.label_column=label",
    ),
    ("nul-bytes", ["dataset.source=text", "dataset.path={root}/nul.txt"], OK, None),
    ("one-megabyte-text", ["dataset.source=text", "dataset.path={root}/big.txt"], OK, None),
    ("emoji-combining-rtl", ["dataset.source=text", "dataset.path={root}/odd.txt"], OK, None),
    # model
    ("missing-model-path", ["model.name_or_path={root}/no-such-model"], FAILED, "this folder does not exist"),
    (
        "relative-missing-folder",
        ["model.name_or_path=./models/my-bert"],
        FAILED,
        "this folder does not exist",
    ),
    (
        "tokenizer-folder-as-model",
        ["model.name_or_path={root}/nopad", "padding=do_not_pad"],
        FAILED,
        "no model weights — for tokenization only use model=none tokenizer.name_or_path=",
    ),
    ("hub-id-offline", ["model=bert_base_uncased"], FAILED, "HF_HUB_OFFLINE"),
    (
        "head-the-architecture-lacks",
        ["model.name_or_path={root}/gpt2", "model.head=masked_lm"],
        FAILED,
        "model.head=masked_lm",
    ),
    ("corrupt-weights", ["model.name_or_path={root}/corrupt"], FAILED, "model.name_or_path"),
    ("no-pad-token", ["model=none", "tokenizer.name_or_path={root}/nopad"], FAILED, "padding.strategy"),
    (
        "trust-remote-code-needed",
        ["model.name_or_path={root}/remote"],
        FAILED,
        "model.trust_remote_code=true",
    ),
    (
        "truncation-off-too-long",
        ["tokenizer.truncation=false", "dataset.source=text", "dataset.path={root}/big.txt"],
        FAILED,
        "tokenizer.truncation",
    ),
    # tracking
    ("unwritable-sqlite", ["tracking.uri=sqlite:////proc/runner-test/m.db"], NO_RUN, "tracking.uri"),
    ("unreachable-server", ["tracking.uri=http://127.0.0.1:9"], NO_RUN, "tracking.uri"),
    ("outputs-not-writable", ["@ro"], NO_RUN, "outputs"),
    (
        "param-value-over-limit",
        ["+dataset.columns={text:[" + ",".join(['"' + "x" * 7000 + '"'] * 2) + "]}"],
        OK,
        None,
    ),
    (
        "more-than-100-params",
        ["+dataset.columns={" + ",".join(f"c{i}:[a]" for i in range(150)) + ",text:[hi]}"],
        OK,
        None,
    ),
]


def _run_case(world, case: str, args: list[str]):
    store = f"sqlite:///{world}/store.db"
    cwd = world / "cwd"
    if args == ["@ro"]:
        cwd, args = world / "ro", []
    args = [a.replace("{root}", str(world)) for a in args]
    if not any(a.startswith("tracking.uri=") for a in args):
        args.append(f"tracking.uri={store}")
    return invoke(*args, f"tracking.run_name={case}", cwd=cwd)


@pytest.fixture(scope="module")
def outcomes(world):
    """Every case's outcome, one after another in this process."""
    return {case: _run_case(world, case, args) for case, args, _, _ in CASES}


@pytest.mark.parametrize(("case", "args", "expected", "key"), CASES, ids=[c[0] for c in CASES])
def test_case(world, outcomes, case, args, expected, key):
    store = f"sqlite:///{world}/store.db"
    proc = outcomes[case]
    runs = [r for r in _runs(store) if r.info.run_name == case]
    if expected == OK:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert [r.info.status for r in runs] == ["FINISHED"]
        if case == "more-than-100-params":
            assert len(runs[0].data.params) > 100
        if case == "param-value-over-limit":
            assert runs[0].data.params["dataset.columns.text"].endswith("[truncated]")
        return
    assert proc.returncode == (2 if expected == CONFIG else 1), proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: ") and key in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    if expected != FAILED:
        assert runs == []
        return
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.tags["error"].startswith(lines[0][len("error: ") :][:40])
    assert runs[0].data.params, "what was logged before the failure is kept"


def _runs(uri):
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("runner")
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def test_store_survives_the_matrix(world, outcomes):
    store = f"sqlite:///{world}/store.db"
    runs = _runs(store)
    assert runs and not [r.info.run_name for r in runs if r.info.status in ("RUNNING", "SCHEDULED")]
    assert {r.info.status for r in runs} == {"FAILED", "FINISHED"}
    proc = invoke(
        f"tracking.uri={store}", "model=none", "tracking.run_name=after-the-matrix", cwd=world / "cwd"
    )
    assert proc.returncode == 0, proc.stderr
    assert [r.info.status for r in _runs(store) if r.info.run_name == "after-the-matrix"] == ["FINISHED"]

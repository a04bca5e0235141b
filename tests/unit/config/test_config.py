"""Every option file composes; bad values fail at compose or check time with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from runner import errors
from runner.config import schema
from runner.errors import ConfigError
from tests.helpers.invoking import compose
from tests.helpers.paths import ROOT

OPTIONS = sorted((p.parent.name, p.stem) for p in (ROOT / "conf").glob("*/*.yaml"))


def test_every_group_has_options():
    groups = {g for g, _ in OPTIONS}
    assert {"model", "tokenizer", "padding", "dataset", "experiment"} <= groups


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes(group, option):
    # Hub presets compose too: their name_or_path is a plain id, resolved only when loading.
    # A trained tokenizer's ids are no model's: it composes with model=none (and not without).
    trains = group == "tokenizer" and option in (
        "train",
        "klue_wordpiece",
        "klue_unigram",
        "klue_morpheme_bpe",
    )
    companions = ["model=none"] if trains else []
    if group == "probe" and option != "none":  # a probe predicts a label
        companions.append("dataset.label_column=label")
    assert isinstance(compose(f"{group}={option}", *companions), schema.RunConfig)


def test_option_files_start_with_a_comment():
    for path in (ROOT / "conf").glob("*/*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("#"), path


def _compose_error(*overrides: str) -> str:
    with pytest.raises((ConfigCompositionException, MissingConfigException)) as info:
        compose(*overrides)
    return errors.describe(info.value)


def test_unknown_enum_value_names_key_and_allowed_values():
    message = _compose_error("padding.strategy=bogus")
    assert message.startswith("padding.strategy:")
    assert "longest" in message and "max_length" in message and "do_not_pad" in message
    assert "\n" not in message


def test_unknown_key_names_key():
    message = _compose_error("model.nonexistent=1")
    assert "model.nonexistent" in message and "\n" not in message


def test_wrong_type_names_key():
    message = _compose_error("runtime.batch_size=lots")
    assert message.startswith("runtime.batch_size:") and "\n" not in message


def test_unknown_group_option_lists_available():
    message = _compose_error("model=bogus")
    assert "model/bogus" in message and "tiny_bert" in message and "\n" not in message


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("runtime.batch_size=0", "runtime.batch_size"),
        ("runtime.batch_size=-3", "runtime.batch_size"),
        ("tokenizer.max_length=0", "tokenizer.max_length"),
        ("padding.strategy=max_length", "padding.strategy"),
        ("tokenizer.truncation=sometimes", "tokenizer.truncation"),
        ("dataset.limit=0", "dataset.limit"),
    ],
)
def test_cross_field_checks(override, key):
    with pytest.raises(ConfigError) as info:
        compose(override)
    assert str(info.value).startswith(key)


def test_padding_max_length_option_brings_a_length():
    run = compose("padding=max_length")
    assert run.padding.strategy is schema.PaddingStrategy.max_length
    assert run.tokenizer.max_length == 128


def test_truncation_accepts_yaml_booleans():
    assert compose("tokenizer.truncation=false").tokenizer.truncation == "false"
    assert compose("tokenizer.truncation=only_second").tokenizer.truncation == "only_second"


def test_experiment_bert_vs_roberta_uses_the_real_bundled_tokenizers():
    from transformers import AutoTokenizer

    run = compose("experiment=bert_vs_roberta", "dataset=sample_pairs", "tokenizer=roberta_base")
    assert run.dataset.texts and all(isinstance(t, list) for t in run.dataset.texts)
    assert run.tracking.experiment == "bert_vs_roberta" and not run.model.forward
    sizes = {}
    for name in ("bert_base_uncased", "roberta_base"):
        path = compose("experiment=bert_vs_roberta", f"tokenizer={name}").tokenizer.name_or_path
        assert Path(path).is_dir() and Path(path).parent.name == "hub"  # bundled: no hub needed
        sizes[name] = len(AutoTokenizer.from_pretrained(path))
    assert sizes == {"bert_base_uncased": 30522, "roberta_base": 50265}


def test_renyi_order_is_checked():
    with pytest.raises(ConfigError, match="stats.renyi_alpha"):
        compose("stats.renyi_alpha=1")


def test_conf_is_package_data():
    import runner.conf

    assert Path(runner.conf.__file__).parent.joinpath("config.yaml").exists()


def test_slurm_launcher_preset_has_the_usual_knobs():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    import runner.cli  # noqa: F401

    with initialize_config_module("runner.conf", version_base="1.3"):
        cfg = hydra_compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.timeout_min == 60 and launcher.gpus_per_node == 0
    assert launcher.cpus_per_task == 4 and launcher.mem_gb == 16


def test_an_unreadable_input_file_does_not_blame_outputs(tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    outside = errors.describe(PermissionError(13, "Permission denied", str(tmp_path / "in.csv")))
    assert "outputs" not in outside.split("—")[0] and "in.csv" in outside
    inside = errors.describe(PermissionError(13, "Permission denied", "outputs/runs/x/.hydra"))
    assert inside.startswith("hydra.run.dir / outputs: cannot write")


@pytest.mark.parametrize(("signum", "code", "name"), [(15, 143, "SIGTERM"), (2, 130, "SIGINT")])
def test_an_interrupt_before_any_run_claims_no_killed_run(monkeypatch, capsys, signum, code, name):
    from runner import cli

    def interrupted():
        raise errors.Interrupted(signum)

    monkeypatch.setattr(cli, "_hydra_main", lambda session: interrupted)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # main() sets it to 1: restored after the test
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == code
    err = capsys.readouterr().err
    assert err.strip() == f"interrupted ({name}): stopped" and "KILLED" not in err

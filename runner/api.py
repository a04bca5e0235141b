"""The Python API: the runner in a notebook or a script, with the CLI's composition, validation and
tracking, in-process — and any run read back as objects and DataFrames.

    run = runner.run("model=none", "tokenizer=roberta_base")
    run.tokens.head()                      # tokens.json as a DataFrame
    sweep = runner.sweep("tokenizer=bert_base_uncased,roberta_base", "model=none")
    sweep.comparison                       # the parent's comparison table

Each call has its own Session (engine.session): two calls in one interpreter, or a notebook cell
run again, are independent. Errors raise (a config error as `RunnerError`, before any run
opens); nothing here calls sys.exit or ends the process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import errors
from runner.config.tags import JOB_NUM, PARENT, ROLE, SWEEP_ROLE
from runner.engine.session import Session
from runner.errors import ConfigError, RunnerError, Stop, TrackingError
from runner.tracking import readback

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def run(*overrides: str) -> Run:
    """One run of the composed config (`runner OVERRIDES`); its Run once it has ended FINISHED
    (with sweep.skip_finished=true, the earlier FINISHED run of the same config). A failure
    raises — a RunnerError for what the user can fix — with the run ended FAILED."""
    session = _launch(overrides, multirun=False)
    last = [s for s in session.started if not s.sweep][-1]
    return Run(last.run_id, last.uri)


def sweep(*overrides: str) -> Sweep:
    """A sweep (`runner -m OVERRIDES`): the parent and its children, also when some jobs failed
    (their Runs say FAILED); raises when the sweep could not start or sweep.fail_fast stopped it."""
    session = _launch(overrides, multirun=True)
    parents = [s for s in session.started if s.sweep]
    return Sweep(Run(parents[-1].run_id, parents[-1].uri))


def load(run_id: str, tracking_uri: str | None = None) -> Run | Sweep:
    """Any run read back (one made by the CLI too): a sweep's parent gives a Sweep. The store is
    tracking_uri, else MLFLOW_TRACKING_URI, else the runner's default (outputs/mlflow.db)."""
    from runner.tracking import store

    one = Run(run_id, tracking_uri or store.resolve_uri(None))
    return Sweep(one) if one.tags.get(ROLE) == SWEEP_ROLE else one


def _launch(overrides: tuple[str, ...], multirun: bool) -> Session:
    """Hydra's own run or multirun of the runner's config, in this process, with a fresh Session
    (as hydra-zen's `launch` does); every error raised as the caller's exception."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from runner.engine import job

    session = Session()
    task = functools.partial(job.execute, session=session)
    try:
        module = "runner.conf"
        with session.active(), session.failures(), initialize_config_module(module, version_base="1.3"):
            hydra = GlobalHydra.instance().hydra
            assert hydra is not None
            args = [*overrides, _mode(hydra.get_mode("config", list(overrides)), multirun)]
            launch = hydra.multirun if multirun else hydra.run
            launch("config", task, args, with_log_configuration=False)
    except Stop as stop:
        _stopped(stop, session)
    except Exception as error:  # the session closed what was open (Session.failures)
        raise errors.as_runner_error(errors.null_node(error, overrides)) from error
    return session


def _mode(configured: Any, multirun: bool) -> str:
    """The override that sets Hydra's mode, as Hydra's own command line does; a config that is a
    sweep (an experiment with hydra.mode: MULTIRUN) is not a single run."""
    from hydra.types import RunMode

    if not multirun and configured == RunMode.MULTIRUN:
        raise ConfigError(
            "hydra.mode", "this config is a sweep (MULTIRUN)", "call runner.sweep with these overrides"
        )
    return "hydra.mode=MULTIRUN" if multirun else "hydra.mode=RUN"


def _stopped(stop: Stop, session: Session) -> None:
    """A job's failure raises its error; a sweep with failed jobs returns (its Runs say so); runs
    kept locally while the tracking server was away raise TrackingError naming runner-sync."""
    from runner.tracking import keep

    if stop.error is not None:
        raise errors.as_runner_error(stop.error) from stop.error
    if stop.code == keep.EXIT_KEPT:
        raise TrackingError(
            "tracking.uri",
            "the tracking server went away: the runs are kept in outputs/unsynced/",
            "run `runner-sync` once the server is back",
        )
    if not any(s.sweep for s in session.started):
        raise RunnerError("sweep", f"stopped with exit code {stop.code}", "see the lines above")


@dataclass
class Run:
    """One MLflow run, read lazily: what it logged, its tables as DataFrames, its outputs."""

    id: str
    tracking_uri: str

    def __repr__(self) -> str:
        return f"Run({self.name!r}, {self.status}, id={self.id})"

    @functools.cached_property
    def _client(self) -> Any:
        return readback.client(self.tracking_uri)

    @functools.cached_property
    def _mlflow(self) -> Any:
        return self._client.get_run(self.id)

    @property
    def name(self) -> str:
        return str(self._mlflow.info.run_name)

    @property
    def status(self) -> str:
        return str(self._mlflow.info.status)

    @property
    def params(self) -> dict[str, str]:
        return dict(self._mlflow.data.params)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._mlflow.data.metrics)

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._mlflow.data.tags)

    @property
    def url(self) -> str:
        """Its page in the dashboard (`mlflow ui` on the store, or the tracking server)."""
        from runner.tracking import store

        return store.run_url(self.tracking_uri, self._mlflow.info.experiment_id, self.id)

    @functools.cached_property
    def tokens(self) -> pd.DataFrame:
        """tokens.json: one row per logged example (ids, tokens, pieces, masks, round trip, …)."""
        table = self.table("tokens.json")
        if table is None:
            raise RunnerError(f"run {self.id}", "logged no tokens.json", "it failed before tokenizing")
        return table

    @functools.cached_property
    def tokenizer(self) -> Any:
        """The tokenizer this run trained (tokenizer.train), loaded from its tokenizer/ artifact:
        the same ids as in the run, in any process."""
        if not readback.has(self._client, self.id, "tokenizer"):
            raise RunnerError(
                f"run {self.id}",
                "logged no tokenizer/",
                "only a run with tokenizer.train keeps its tokenizer",
            )
        from runner.tokenization import tokenizer

        return tokenizer.from_folder(readback.download(self._client, self.id, "tokenizer"))

    @functools.cached_property
    def model_config(self) -> dict[str, Any] | None:
        """The model's config.json as loaded (`model_type`, `id2label`, …); None without a model."""
        found = readback.json_file(self._client, self.id, "model_config.json")
        return found if isinstance(found, dict) else None

    @functools.cached_property
    def predictions(self) -> pd.DataFrame | None:
        """predictions.json: a head's answers per logged example; None for a body or no model."""
        return self.table("predictions.json")

    @functools.cached_property
    def outputs(self) -> np.ndarray | list[np.ndarray] | None:
        """The model's outputs per example, in input order: one array when every example has one
        row (outputs.npy: a body's pooled embeddings, sequence logits), else one array per example
        (outputs.npz: per-token outputs); an execution=ray run's shards (outputs/) read the same
        way. None when the run had no forward pass."""
        import numpy as np

        from runner.model import outputs as model_outputs

        logged = readback.outputs(self._client, self.id, model_outputs.load)
        if logged is None:
            return None
        values, offsets = logged
        if readback.has(self._client, self.id, "outputs.npy") or (np.diff(offsets) == 1).all():
            return values
        return [values[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]

    def table(self, artifact: str) -> pd.DataFrame | None:
        """An MLflow table this run logged (pandas' split JSON), as a DataFrame; None if absent."""
        found: pd.DataFrame | None = readback.table(self._client, self.id, artifact)
        return found


@dataclass
class Sweep:
    """A sweep's parent run and its children, with the tables the sweep logged on the parent."""

    parent: Run

    def __repr__(self) -> str:
        return f"Sweep({self.parent.name!r}, {len(self.children)} runs, {self.parent.status})"

    @property
    def id(self) -> str:
        return self.parent.id

    @property
    def url(self) -> str:
        return self.parent.url

    @functools.cached_property
    def children(self) -> list[Run]:
        """The sweep's runs in job order (3 < 3.1 < 10)."""
        from runner.analysis.conclusion import job_order

        found = self.parent._client.search_runs(
            [self.parent._mlflow.info.experiment_id],
            filter_string=f"tags.`{PARENT}` = '{self.parent.id}'",
            max_results=10_000,
        )
        found.sort(key=lambda r: job_order(r.data.tags.get(JOB_NUM, "")))
        return [Run(r.info.run_id, self.parent.tracking_uri) for r in found]

    @functools.cached_property
    def comparisons(self) -> dict[str, pd.DataFrame]:
        """Each dataset's comparison table by its file's name (`sample`, …): every example's
        tokens in every run on that dataset, side by side. One dataset: {"tokens": table}."""
        out = {}
        for artifact in ("comparison/tokens.json", *self._per_dataset()):
            table = self.parent.table(artifact)
            if table is not None:
                out[Path(artifact).stem] = table
        return out

    def _per_dataset(self) -> list[str]:
        return [
            f"comparison/tokens/{name}"
            for name in sorted(readback.names(self.parent._client, self.id, "comparison/tokens"))
        ]

    @functools.cached_property
    def comparison(self) -> pd.DataFrame | None:
        """comparison/tokens.json: each example's tokens in every run, side by side. A sweep over
        several datasets has one table per dataset: read them from `comparisons`."""
        tables = self.comparisons
        if len(tables) > 1:
            raise RunnerError(
                f"sweep {self.id}",
                f"ran on {len(tables)} datasets ({', '.join(tables)}), one comparison table each",
                "read sweep.comparisons[<dataset>]",
            )
        return next(iter(tables.values()), None)

    @functools.cached_property
    def probe(self) -> pd.DataFrame | None:
        """comparison/probe.json: per dataset, each intrinsic measure's rank correlation with the
        probe's accuracy over the runs (Spearman, Kendall, n); None without a probe."""
        return self.parent.table("comparison/probe.json")

    @functools.cached_property
    def summary(self) -> pd.DataFrame | None:
        """sweep_summary.json: one row per job — name, status, key metrics, error."""
        return self.parent.table("sweep_summary.json")

    def metrics(self) -> pd.DataFrame:
        """Every child's metrics, one row per run (its name as the index)."""
        import pandas as pd

        return pd.DataFrame([c.metrics for c in self.children], index=[c.name for c in self.children])

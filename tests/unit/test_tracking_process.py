"""ChildTracker: a single run's store calls made by a forked child, as if made here."""

from __future__ import annotations

import os
import time

import datasets
import pytest
from mlflow import MlflowClient

from runner.errors import TrackingError
from runner.tracking_process import ChildTracker, _portable


def _ended(pid: int, seconds: float = 20) -> bool:
    """The child exited (reaped here, its parent) within the time."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    """One store for the module: a fresh sqlite store's migration takes ~2 s."""
    return f"sqlite:///{tmp_path_factory.mktemp('store')}/m.db"


def test_a_run_logged_through_the_child_reads_back_as_logged_here(uri):
    tracker = ChildTracker(uri, "runner")
    assert tracker.pid != os.getpid()
    run_id = tracker.start("child-run", {"choice.model": "none"})
    tracker.log(run_id, params={"padding": "longest"}, metrics={"tokens/total": 42.0}, tags={"t": "v"})
    tracker.log_table(run_id, [{"text": "hello", "tokens": ["he", "##llo"]}], "tokens.json")
    data = datasets.Dataset.from_dict({"text": ["a", "b", "c"]})
    tracker.log_dataset(run_id, data, "inline", {"source": "inline"})
    tracker.finish(run_id, "FINISHED")

    run = MlflowClient(uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == tracker.experiment_id
    assert run.data.params == {"padding": "longest"}
    assert run.data.metrics == {"tokens/total": 42.0}
    assert run.data.tags["runner.pid"] == str(os.getpid())  # the run's process, not the child
    assert run.data.tags["choice.model"] == "none" and run.data.tags["t"] == "v"
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == "inline"
    names = {a.path for a in MlflowClient(uri).list_artifacts(run_id)}
    assert "tokens.json" in names
    tracker._conn.close()
    assert _ended(tracker.pid)  # the pipe closed: the child leaves


def test_a_store_that_cannot_be_opened_raises_the_same_error_here(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the store's folder should be
    tracker = ChildTracker(f"sqlite:///{blocked}/m.db", "runner")
    with pytest.raises(TrackingError) as info:
        tracker.start("x", {})
    assert info.value.key == f"tracking.uri=sqlite:///{blocked}/m.db"
    assert "cannot write" in info.value.problem
    assert _ended(tracker.pid)  # it reported and left


def test_a_failing_call_raises_here_and_the_next_call_still_works(uri):
    tracker = ChildTracker(uri, "runner")
    with pytest.raises(Exception, match="(?i)run.*not found|no run"):
        tracker.finish("0" * 32, "FINISHED")
    run_id = tracker.start("after", {})
    tracker.finish(run_id, "FINISHED")
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"


def test_an_exception_that_does_not_pickle_comes_back_as_its_type_and_message():
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:  # pickle calls Odd(message): fails
            super().__init__(f"odd {a} {b}")

    sent = _portable(Odd(1, 2))
    assert type(sent) is RuntimeError and str(sent) == "Odd: odd 1 2"
    kept = _portable(TrackingError("tracking.uri=x", "problem", "fix"))
    assert type(kept) is TrackingError and kept.fix == "fix"

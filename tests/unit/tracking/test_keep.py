"""KeepingTracker in-process: the writes made before the server went away are replayed on the
local run, later writes go there, and the tracker survives a launcher's pickling."""

from __future__ import annotations

import pickle

from runner.tracking import keep
from runner.tracking.tracker import Tracker


class Flaky:
    """A server Tracker stand-in that stops answering after `answers` writes."""

    def __init__(self, answers: int) -> None:
        self.uri, self.experiment_id, self.experiment = "http://127.0.0.1:9", "1", "runner"
        self.answers, self.calls = answers, []

    def start(self, name, tags, parent_run_id=None):
        return "server-run"

    def __getattr__(self, name):
        def call(run_id, *args, **kwargs):
            if len(self.calls) >= self.answers:
                raise ConnectionError("Max retries exceeded (Connection refused)")
            self.calls.append((name, run_id, args))

        return call


def test_writes_before_and_after_the_outage_reach_the_local_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tracker = keep.KeepingTracker.around(Flaky(answers=1))
    run = tracker.start("a run", {"x": "1"}, parent_run_id="server-parent")
    tracker.log(run, params={"p": 1})  # reaches the server
    tracker.log(run, metrics={"m": 2.0})  # the server is gone: the run moves, both writes replayed
    tracker.log_text(run, "after", "notes.txt")
    tracker.finish(run, "FINISHED")
    assert tracker.kept() == ["server-run"]
    local = Tracker(keep.kept_uri(), "runner")
    (kept,) = local.client.search_runs([local.experiment_id])
    assert (
        kept.info.status == "FINISHED" and kept.data.params == {"p": "1"} and kept.data.metrics == {"m": 2.0}
    )
    tags = kept.data.tags
    assert tags[keep.REMOTE_ID] == "server-run" and tags[keep.PARENT] == "server-parent"
    assert tags[keep.TARGET] == "http://127.0.0.1:9" and tags["x"] == "1"
    assert keep.kept_remote_ids() == {"server-run"}
    assert [a.path for a in local.client.list_artifacts(kept.info.run_id)] == ["notes.txt"]


def test_the_tracker_pickles_and_tells_unreachable_from_refused_requests():
    tracker = pickle.loads(pickle.dumps(keep.KeepingTracker.away("http://127.0.0.1:9", "runner")))
    assert tracker.gone and tracker.uri == "http://127.0.0.1:9" and tracker.kept() == []
    assert keep.unreachable(ConnectionError("x"))
    assert keep.unreachable(RuntimeError("API request failed: Max retries exceeded with url"))
    killed_mid_answer = "('Connection broken: IncompleteRead(0 bytes read, 8007 more expected)', …)"
    assert keep.unreachable(
        RuntimeError(f"API request to …/runs/get failed with exception {killed_mid_answer}")
    )
    assert not keep.unreachable(RuntimeError("RESOURCE_DOES_NOT_EXIST: run not found"))


def test_a_read_that_finds_the_server_gone_moves_the_run_at_its_next_write(tmp_path, monkeypatch):
    """A sweep's end reads its children first: a server that went away while the last job ran
    answers that read with nothing, and the parent moves to the local store when it finishes."""
    monkeypatch.chdir(tmp_path)
    tracker = keep.KeepingTracker.around(Flaky(answers=1))
    parent = tracker.start("a sweep", {"runner.role": "sweep"})
    tracker.log(parent, params={"p": 1})  # reaches the server
    assert tracker.children(parent) == [] and tracker.gone  # the read finds the server away
    tracker.finish(parent, "FINISHED")
    assert tracker.kept() == ["server-run"]
    local = Tracker(keep.kept_uri(), "runner")
    (kept,) = local.client.search_runs([local.experiment_id])
    assert kept.info.status == "FINISHED" and kept.data.params == {"p": "1"}
    assert kept.data.tags[keep.REMOTE_ID] == "server-run" and keep.PARENT not in kept.data.tags

"""What the runner writes to MLflow stays within MLflow's limits without MLflow's warnings."""

from __future__ import annotations

import logging

from runner.tracking.tracker import Tracker, limits


def test_a_long_description_is_cut_by_the_runner_not_by_mlflow(tmp_path, caplog):
    tracker = Tracker(f"sqlite:///{tmp_path}/m.db", "runner")
    run = tracker.start("long", {})
    with caplog.at_level(logging.WARNING):
        tracker.set_description(run, "x" * 20_000)
    stored = tracker.client.get_run(run).data.tags["mlflow.note.content"]
    assert limits()[2] - 20 < len(stored) <= limits()[2] and stored.endswith("...[truncated]")
    assert not [r for r in caplog.records if "truncated to" in r.getMessage()]


def test_the_reaper_leaves_a_run_its_process_closed_before_dying(tmp_path, monkeypatch):
    """The race seen in CI: the reaper finds the run RUNNING, its process closes it FAILED and
    exits, then the reaper finds the process dead. It must read the run again, not end it KILLED."""
    from runner.tracking import store

    tracker = Tracker(f"sqlite:///{tmp_path}/m.db", "runner")
    run = tracker.start("closed in time", {})
    tracker.client.set_tag(run, "runner.pid", "999999")  # another process's run

    def closes_then_dies(pid, start):
        tracker.finish(run, "FAILED", "its own error")
        return False

    monkeypatch.setattr(store, "alive", closes_then_dies)
    assert tracker.end_dead_runs() == []
    assert tracker.client.get_run(run).info.status == "FAILED"

"""What the runner writes to MLflow stays within MLflow's limits without MLflow's warnings."""

from __future__ import annotations

import logging

from runner.tracking import Tracker, limits


def test_a_long_description_is_cut_by_the_runner_not_by_mlflow(tmp_path, caplog):
    tracker = Tracker(f"sqlite:///{tmp_path}/m.db", "runner")
    run = tracker.start("long", {})
    with caplog.at_level(logging.WARNING):
        tracker.set_description(run, "x" * 20_000)
    stored = tracker.client.get_run(run).data.tags["mlflow.note.content"]
    assert limits()[2] - 20 < len(stored) <= limits()[2] and stored.endswith("...[truncated]")
    assert not [r for r in caplog.records if "truncated to" in r.getMessage()]

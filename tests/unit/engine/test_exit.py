"""How a process the runner owns (the `runner` command, a launcher's worker) treats Python's
collector: paused through its first job's imports, what they made frozen, frozen again at exit
(Session.for_process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_a_launcher_worker_freezes_at_exit_once_and_pauses_for_its_first_session(tmp_path):
    """A worker unpickling the task function (a Session per job) freezes what is alive once, at
    its exit, however many jobs it ran; only its first Session pauses the collector."""
    script = textwrap.dedent(
        f"""
        import gc, pathlib, pickle
        calls = pathlib.Path({str(tmp_path / "calls")!r})
        gc.freeze = lambda: calls.open("a").write("freeze\\n")  # counted, not frozen
        from runner.engine.session import Session
        sessions = [pickle.loads(pickle.dumps(Session())) for _ in range(3)]
        assert [s.paused_collector for s in sessions] == [True, False, False]
        assert not gc.isenabled() and not calls.exists()  # no job has settled yet
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "calls").read_text() == "freeze\n"


def test_a_runner_process_collects_nothing_until_its_imports_are_done(tmp_path):
    """The `runner` command pauses Python's collector through its first job's imports and
    freezes what they made (Session.for_process): no collection scans torch's, transformers'
    and MLflow's objects while they are imported, and collections resume for the job's work."""
    script = textwrap.dedent(
        f"""
        import gc, json, sys
        from runner import cli
        from runner.engine.session import Session
        sys.argv = ["runner", "model=none", "tokenizer=tiny_bert", "hydra.run.dir={tmp_path}/run",
                    "tracking.uri=sqlite:///{tmp_path}/mlflow.db", "tracking.experiment=gc"]
        seen = []
        gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(gc.get_freeze_count()))
        cli.main()
        later = Session.for_process()
        print(json.dumps({{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "seen": seen,
                          "later_paused": later.paused_collector}}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.splitlines()[-1])
    assert facts["enabled"] is True and facts["later_paused"] is False  # once per process
    assert facts["frozen"] > 300_000  # the imports' objects, out of the collector's sight
    assert len(facts["seen"]) > 0  # the job's own work is collected
    assert [n for n in facts["seen"] if n == 0] == []  # nothing collected before the freeze


def test_a_progress_bar_shows_on_a_terminal_that_reports_no_size():
    """A pseudo-terminal of 0 × 0 (`script`, some IDE terminals): tqdm alone would draw nothing."""
    import os
    import pty
    import subprocess
    import sys

    main, follower = pty.openpty()  # a new pty reports 0 columns and 0 rows
    code = "from runner import console\np = console.Progress('jobs', 'job', leave=True)\n"
    code += "p(0, 2); p(1, 2); p(2, 2)"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run([sys.executable, "-c", code], stderr=follower, env=env, timeout=60)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"jobs: 100%" in out and b"2/2" in out

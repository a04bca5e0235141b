"""Several runners opening one fresh sqlite store at once (parallel launchers, two terminals) all
get the same experiment: MLflow's migrations run once, not raced."""

from __future__ import annotations

import subprocess
import sys

OPEN = "from runner.tracking.tracker import Tracker; print(Tracker(sys.argv[1], 'runner').experiment_id)"
END = "import gc; gc.freeze()"  # the interpreter's last collections skip MLflow's objects (~1 s)


def test_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path}/fresh.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import sys; {OPEN}; {END}", uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.communicate(timeout=180), p.returncode) for p in procs]
    assert [rc for _, rc in results] == [0, 0, 0, 0], [err for (_, err), _ in results]
    ids = {out.strip() for (out, _), _ in results}
    assert len(ids) == 1 and ids.pop().isdigit()

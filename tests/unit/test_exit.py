"""`runner` leaves the process without the interpreter's teardown (cli.leave), keeping what
matters at exit: the exit code, buffered output, atexit hooks and live non-daemon threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _leave(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import atexit, pathlib, sys, threading, time
        from runner import cli
        out = pathlib.Path({str(tmp_path)!r})
        atexit.register(lambda: (out / "atexit").write_text("ran"))

        class Teardown:  # a module global's finaliser: runs only in the interpreter's teardown
            def __del__(self):
                (out / "teardown").write_text("ran")

        kept = Teardown()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(body)], capture_output=True, text=True, timeout=60
    )


def test_leave_keeps_the_code_output_and_atexit_hooks_and_skips_teardown(tmp_path):
    done = _leave(tmp_path, 'print("buffered in a pipe", end="")\ncli.leave(3)')
    assert done.returncode == 3
    assert done.stdout == "buffered in a pipe"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_a_text_code_is_printed_and_exits_1_like_python(tmp_path):
    done = _leave(tmp_path, 'cli.leave("stopped: reason")')
    assert done.returncode == 1
    assert done.stderr.strip() == "stopped: reason"


def test_a_live_non_daemon_thread_is_waited_for(tmp_path):
    body = """
        def work():
            time.sleep(0.5)
            (out / "thread").write_text("done")

        threading.Thread(target=work).start()
        cli.leave(0)
        """
    done = _leave(tmp_path, body)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "teardown").read_text() == "ran"  # the usual teardown, which leave() skips


def test_cprofile_of_the_runner_writes_its_profile(tmp_path):
    profile = tmp_path / "run.prof"
    args = ["-m", "cProfile", "-o", str(profile), "-m", "runner", "--cfg", "job"]
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0


def test_a_launcher_worker_freezes_its_objects_at_exit_once(tmp_path):
    """A worker unpickling the task function (a Session per job) freezes what is alive once,
    at its exit, however many jobs it ran: its last collections skip what its imports made."""
    script = textwrap.dedent(
        f"""
        import gc, pathlib, pickle
        calls = pathlib.Path({str(tmp_path / "calls")!r})
        gc.freeze = lambda: calls.open("a").write("freeze\\n")  # counted, not frozen
        from runner.engine.session import Session
        sessions = [pickle.loads(pickle.dumps(Session())) for _ in range(3)]
        assert len(sessions) == 3 and not calls.exists()  # nothing frozen while jobs run
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "calls").read_text() == "freeze\n"

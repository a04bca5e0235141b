"""SIGINT/SIGTERM ask for a stop that the pipeline takes at its next check; a second one is immediate."""

from __future__ import annotations

import os
import signal

import pytest

from runner.engine import interrupt


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """CI may start the suite with SIGINT ignored (a background job); these tests need it live."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_signal_waits_for_the_next_check(sig):
    with pytest.raises(KeyboardInterrupt, match=f"signal {int(sig)}"), interrupt.handled():
        os.kill(os.getpid(), sig)  # handled synchronously at the next bytecode: no raise here
        reached = True
        interrupt.check()
    assert reached
    interrupt.check()  # leaving the block clears the request


def test_second_signal_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), interrupt.handled():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second signal should have raised")


def test_stop_asked_after_the_last_check_raises_on_leaving():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupt.handled():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


def test_an_ignored_signal_stays_ignored():
    """A background job of a non-interactive shell starts with SIGINT ignored: keep it so."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt.handled():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            interrupt.check()
    finally:
        signal.signal(signal.SIGINT, before)

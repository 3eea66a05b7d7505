"""evidence.warmup: work waits for the first contact, runs once in the background, never raises."""

from __future__ import annotations

import sys
import threading

from evidence import warmup


def test_work_waits_for_the_first_contact_and_runs_once() -> None:
    ran = threading.Event()
    calls: list[str] = []

    def work() -> None:
        calls.append(threading.current_thread().name)
        ran.set()

    def broken() -> None:
        raise RuntimeError("an optimisation that failed")

    warmup.after_first_contact(broken)
    warmup.after_first_contact(work)
    assert warmup.pending() == 2 and not ran.is_set()
    warmup.first_contact()
    assert ran.wait(10), "the work did not run"
    warmup.first_contact()  # a second contact starts nothing again
    assert calls == ["warm-up"] and warmup.pending() == 0


def test_the_switch_interval_is_short_while_the_warm_up_runs_and_restored_after() -> None:
    """CPU-bound imports on the warm-up thread hand the GIL back to the fetch threads sooner."""
    before = sys.getswitchinterval()
    seen: list[float] = []
    warmup.after_first_contact(lambda: seen.append(sys.getswitchinterval()))
    warmup.first_contact()
    for thread in threading.enumerate():
        if thread.name == "warm-up":
            thread.join(10)
    assert seen == [min(before, warmup.WARM_UP_SWITCH_INTERVAL)] and seen[0] < before
    assert sys.getswitchinterval() == before

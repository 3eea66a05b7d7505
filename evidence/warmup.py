"""Work that can wait until the first request of a collection has gone out.

A collection's first request needs only its client library; importing GX, building suites and
schemas, and importing the store's database layer are needed later, for the first record. Started
at launch they compete with the client's start-up for the interpreter (and, on a busy machine, for
the cores), so the first request waits seconds for work it does not need. Instead, whoever has such
work registers it with :func:`after_first_contact`; the collect loop calls :func:`first_contact` once
a unit has connected to its source (or failed to), and the registered work then runs on a daemon
thread, overlapping the fetch. Work never triggered simply never runs: whoever needs its result does
the work itself (an import, a warm cache) when it gets there.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

WARM_UP_SWITCH_INTERVAL = 0.0005  # seconds

_lock = threading.Lock()
_pending: list[Callable[[], object]] = []


def after_first_contact(work: Callable[[], object]) -> None:
    """Run ``work`` on a background thread once the first request has gone out (see the module)."""
    with _lock:
        _pending.append(work)


def first_contact() -> None:
    """The first request has gone out: start what was waiting for it (idempotent, cheap when idle)."""
    with _lock:
        if not _pending:
            return
        work = list(_pending)
        _pending.clear()

    def run() -> None:
        # Imports are CPU-bound and hold the GIL for a whole switch interval (5 ms) at a time, so each
        # fetch thread woken by a response would wait for them; a shorter interval while the warm-up
        # runs hands the GIL back to the fetch threads sooner (the interval is per process: restored).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, WARM_UP_SWITCH_INTERVAL))
        try:
            for item in work:
                try:
                    item()
                except Exception:  # an optimisation: whoever needs the result meets the same error itself
                    log.debug("background warm-up failed", exc_info=True)
        finally:
            sys.setswitchinterval(interval)

    threading.Thread(target=run, name="warm-up", daemon=True).start()


def pending() -> int:
    """How much work waits for the first contact (tests)."""
    with _lock:
        return len(_pending)

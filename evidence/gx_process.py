"""GX suites run in a child Python process, so importing GX does not hold this interpreter's GIL.

Importing GX Core takes seconds of CPU (scipy, pandas, SQLAlchemy, altair...). On a thread of the
collecting process it competes for the GIL with the threads fetching evidence, which then wait up to a
switch interval each time a response arrives: a collection of 200 S3 buckets took a quarter longer
while GX was importing beside it. In a child process it runs on another core, and the fetch threads
never wait for it.

The child runs the same code as the in-process path (:func:`evidence.validation.gx_result`) on the same
suite documents and rows, so the results are the same; the parent turns the full result into the
record's summary (:func:`evidence.validation.summarise`) exactly as before. It is an optimisation and
never a source of truth: if the child cannot be started, dies or reports a problem, :func:`validate`
returns ``None`` and the caller runs the suite in its own process, meeting any genuine error itself.

The child starts when the collect loop's warm-up runs (the source has answered: :mod:`evidence.warmup`)
and imports GX at once, as installed without its optional SQL and S3 extras (``HIDDEN_PACKAGES``) and
with the modules it imports but our suites never use loaded lazily (``LAZY_MODULES``): about 6.3 -> 3.5 s
of CPU. It is ended at exit.

Protocol (pickle frames on the child's stdin and a duplicate of its stdout; anything GX prints goes to
stderr): ``("warm", [(type_id, suite_doc), ...])`` builds these suites, no answer;
``("run", type_id, suite_doc, rows, index_column)`` answers ``("ok", full_result)`` or
``("error", text)``. End of input ends the child. Both ends are this program: the frames are trusted.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_enabled = False
_child: subprocess.Popen[bytes] | None = None
_failed = False  # the child could not be started or died: every suite runs in-process from then on
_handed_back = 0  # suites the child did not run (tests check the child ran them all)


def enable() -> None:
    """Run this process's GX suites in a child from now on (the CLI, a short-lived process collecting
    once, asks for it; Airflow tasks validate in-process as before). The child starts with the
    warm-up (:func:`start`, once the source has answered) or the first suite, whichever comes first:
    started at launch it would compete with the first request for the cores of a busy machine."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def disable() -> None:
    """Back to in-process suites, the child ended (tests)."""
    global _enabled, _failed, _handed_back
    stop()
    _enabled = _failed = False
    _handed_back = 0


def _spawn() -> subprocess.Popen[bytes]:
    root = str(Path(__file__).resolve().parent.parent)  # where this ``evidence`` package is imported from
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
    return subprocess.Popen(
        [sys.executable, "-m", "evidence.gx_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        close_fds=True,
    )


def _send(child: subprocess.Popen[bytes], message: tuple[Any, ...]) -> None:
    assert child.stdin is not None
    pickle.dump(message, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
    child.stdin.flush()


def _ensure() -> subprocess.Popen[bytes] | None:
    """The running child (started on first use), or ``None`` once it has failed; holds ``_lock``."""
    global _child, _failed
    if _child is None and not _failed:
        try:
            _child = _spawn()
        except (OSError, ValueError):
            log.debug("cannot start the GX process; suites run in this process", exc_info=True)
            _failed = True
            return None
        atexit.register(stop)
    return _child


def _give_up() -> None:
    global _child, _failed
    _failed = True
    if _child is not None:
        child, _child = _child, None
        _end(child)


def start(suites: list[tuple[str, dict[str, Any]]]) -> None:
    """Start the child (if not yet running) and have it import GX and build these suites now."""
    with _lock:
        child = _ensure()
        if child is None:
            return
        try:
            _send(child, ("warm", suites))
        except (OSError, pickle.PicklingError):
            log.debug("the GX process is gone; suites run in this process", exc_info=True)
            _give_up()


def validate(
    type_id: str, doc: dict[str, Any], rows: list[dict[str, Any]], index_column: str
) -> dict[str, Any] | None:
    """GX's full result of suite ``doc`` over ``rows`` from the child; ``None``: run it in-process."""
    global _handed_back
    with _lock:
        child = _ensure()
        answer: tuple[Any, ...] = ("error", "no GX process")
        if child is not None:
            assert child.stdout is not None
            try:
                _send(child, ("run", type_id, doc, rows, index_column))
                answer = pickle.load(child.stdout)  # noqa: S301 - our own child, on a private pipe
            except (OSError, EOFError, pickle.PickleError):
                log.debug("the GX process is gone; suites run in this process", exc_info=True)
                _give_up()
                answer = ("error", "the GX process is gone")
        if answer[0] == "ok":
            full: dict[str, Any] = answer[1]
            return full
        _handed_back += 1
    log.debug("the GX process did not run %s (%s); running it here", type_id, answer[1])
    return None


def handed_back() -> int:
    """How many suites the child handed back to this process since :func:`enable` (tests)."""
    return _handed_back


def _end(child: subprocess.Popen[bytes]) -> None:
    """End the child now: nothing it could still be doing is needed (it writes nothing anywhere)."""
    for stream in (child.stdin, child.stdout):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()
    with contextlib.suppress(OSError):
        child.kill()
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        child.wait(timeout=10)


def stop() -> None:
    """End the child, if one runs (at exit; idempotent). Does not wait for a thread still talking
    to the child (a daemon warm-up thread may be blocked writing to it): ending the child frees it."""
    global _child
    locked = _lock.acquire(timeout=1)
    try:
        child, _child = _child, None
        if child is not None:
            _end(child)
    finally:
        if locked:
            _lock.release()


def running() -> bool:
    """Whether a child is running (tests)."""
    with _lock:
        return _child is not None and _child.poll() is None


# Imported by GX at its import, used only by expectations and renderers our suites do not use (the KL
# divergence's chart and statistics): in the child they load lazily (importlib's LazyLoader), on first
# use, whole, as usual.
LAZY_MODULES = frozenset({"altair", "scipy.stats"})
# GX's optional extras (SQL data sources, S3 and Athena), which GX imports when installed and does
# without when not (its ``compatibility`` layer): our suites validate pandas frames, so the child runs
# GX as installed without them. Together about half of GX's import time; the results are the same (a
# test compares them), and a suite that needed them would fail in the child and run in the parent.
HIDDEN_PACKAGES = frozenset({"sqlalchemy", "boto3", "botocore", "pyathena"})


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Finds ``LAZY_MODULES`` as the other finders do, and loads them on first attribute access;
    ``HIDDEN_PACKAGES`` are not found at all."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name.partition(".")[0] in HIDDEN_PACKAGES:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if name not in LAZY_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is None:
                continue
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    from evidence import validation

    try:
        with validation._gx_lock:  # import GX and build its context before the first message
            validation._batch_definition()
    except Exception:  # a run meets the same problem and reports it
        log.debug("importing GX failed", exc_info=True)

    def reply(message: tuple[Any, ...]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    while True:
        try:
            message = pickle.load(inp)  # noqa: S301 - our own parent, on a private pipe
        except EOFError:
            return
        if message[0] == "warm":
            try:
                with validation._gx_lock:
                    validation._batch_definition()
                    for type_id, doc in message[1]:
                        validation._suite(type_id, doc)
            except Exception:  # the run meets the same problem and reports it
                log.debug("warming GX failed", exc_info=True)
        elif message[0] == "run":
            _, type_id, doc, rows, index_column = message
            try:
                full = validation.gx_result(type_id, doc, rows, index_column)
            except Exception as exc:  # noqa: BLE001 - the parent runs it itself and meets the genuine error
                reply(("error", f"{type(exc).__name__}: {exc}"))
            else:
                reply(("ok", full))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the child
    sys.meta_path.insert(0, _LazyFinder())
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # what GX prints goes to stderr, not the frames
    _serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()

"""Sources that are local tools (backup programs, database utilities): one command is one call,
logged like an API call, and its exit sorted into an outcome at the boundary.

A missing program is ``unreachable``; an exit status the family declares as "permission denied"
is ``access_denied``; any other non-zero exit is a ``client_error`` carrying the tool's own last
words (secrets never appear on a command line: passwords go through files or the environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from collectors.core.outcomes import Failed, Found, Outcome
from collectors.core.recording import CallRecorder, one_line
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission, Row


def installed(program: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``program`` (a name looked up on the PATH it will run with, or a path) is there and
    executable. Asked before running it: run as another user (``runuser``), a missing program is only
    an exit status, and a file without the execute bit is not a ``FileNotFoundError``."""
    return shutil.which(program, path=(os.environ if env is None else env).get("PATH")) is not None


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """``argv`` run as ``user`` (when we are root and a user is named), else as is."""
    if user and os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *argv]
    return list(argv)


class CommandRecorder(CallRecorder):
    def command(
        self,
        api: ApiPermission,
        argv: Sequence[str],
        *,
        params: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
        user: str | None = None,
        denied_codes: tuple[int, ...] = (),
    ) -> Outcome:
        """Run one command; ``Found(stdout)`` on exit 0, else a ``Failed`` naming the exit."""
        shown = dict(params or {})
        try:
            if not installed(argv[0], env):
                raise FileNotFoundError(argv[0])
            done = subprocess.run(
                as_user(argv, user),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                check=False,
            )
        except OSError:  # not installed, or not runnable
            self.record(
                ApiCall(service=api.service, operation=api.operation, params=shown, error_code="NotFound")
            )
            return Failed(
                "unreachable",
                SourceError(
                    code="ToolNotFound",
                    message=f"{Path(argv[0]).name} is not installed on this host",
                    operation=api.key,
                ),
            )
        except subprocess.TimeoutExpired:
            self.record(
                ApiCall(service=api.service, operation=api.operation, params=shown, error_code="Timeout")
            )
            return Failed(
                "unavailable",
                SourceError(code="Timeout", message=f"no answer in {timeout:.0f} s", operation=api.key),
            )
        code = done.returncode
        self.record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                params=shown,
                error_code=None if code == 0 else f"exit {code}",
            )
        )
        if code == 0:
            return Found(done.stdout)
        message = one_line(done.stderr or done.stdout or f"exit status {code}")[-500:]
        denied = code in denied_codes or "permission denied" in message.lower()
        return Failed(
            "access_denied" if denied else "client_error",
            SourceError(
                code=f"exit {code}",
                message=message,
                operation=api.key,
                permission=api.permission if denied else None,
            ),
        )

    def record_read(self, api: ApiPermission, path: str) -> None:
        """A file the source read directly (a configuration), logged like a call."""
        self.record(ApiCall(service=api.service, operation=api.operation, params={"path": path}))


# Failures that mean the check could not run at all (an ``error`` row), not that it found a fault.
COULD_NOT_RUN = ("unreachable", "access_denied", "unavailable")


def check_rows(resource: str, outcome: Outcome | None, passed: str) -> list[Row]:
    """The one row of a tool's own consistency check (``pgbackrest check``, ``restic check``), pure:
    exit 0 passes with ``passed`` as the reason; a check that could not run is an ``error`` row; any
    other failure fails with the tool's own last words. ``None`` (not fetched): no row."""
    if outcome is None:
        return []
    base: Row = {"resource": resource, "region": None}
    if isinstance(outcome, Failed) and outcome.kind in COULD_NOT_RUN:
        reason = f"could not run check: {outcome.error.message}"
        return [{**base, "status": "error", "reason": reason, "check_ok": None, "message": None}]
    if isinstance(outcome, Failed):
        message = outcome.error.message
        return [{**base, "status": "fail", "reason": message, "check_ok": False, "message": message}]
    if isinstance(outcome, Found):
        return [{**base, "status": "pass", "reason": passed, "check_ok": True, "message": passed}]
    message = "the check gave no result"
    return [{**base, "status": "fail", "reason": message, "check_ok": False, "message": message}]


def stop_process(process: subprocess.Popen[Any] | None, grace: float = 10, *, group: bool = False) -> None:
    """End a server this process started: SIGTERM, SIGKILL after ``grace`` seconds; its stderr pipe
    closed. ``group``: it was started in a session of its own (``start_new_session=True``), and the
    signals go to its whole process group, so whatever it spawned ends with it."""
    if process is None:
        return
    if process.poll() is None:
        _signal(process, signal.SIGTERM, group)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group)
            process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


def stop_group(process: subprocess.Popen[Any] | None, grace: float = 10) -> None:
    """:func:`stop_process` for a server started in a session of its own, with everything it spawned."""
    stop_process(process, grace, group=True)


def _signal(process: subprocess.Popen[Any], signum: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)

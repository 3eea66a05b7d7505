"""A local tool as a source: its outcomes sorted at the boundary. A program that is not installed is
``unreachable`` (ToolNotFound) however it is run (directly, as another user through runuser, without
its execute bit), never a tool error; a failing exit is the tool's own words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collectors.core.commands import CommandRecorder, installed
from collectors.core.outcomes import Failed, Found
from evidence.registry import ApiPermission

API = ApiPermission("tool", "info", "file:read")


def test_a_program_that_is_not_installed_is_unreachable(tmp_path: Path) -> None:
    rec = CommandRecorder()
    outcome = rec.command(API, ["evidence-no-such-tool", "info"])
    assert isinstance(outcome, Failed) and outcome.kind == "unreachable"
    assert outcome.error.code == "ToolNotFound"
    assert outcome.error.message == "evidence-no-such-tool is not installed on this host"
    assert [c.error_code for c in rec.calls] == ["NotFound"]
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")  # there, without its execute bit
    assert isinstance(rec.command(API, [str(script)]), Failed)
    assert not installed(str(script))
    script.chmod(0o755)
    assert installed(str(script)) and rec.command(API, [str(script)]) == Found("hi\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="runs as another user only when root")
def test_a_missing_program_run_as_another_user_is_still_unreachable() -> None:
    # through runuser it would only have been "exit 127" (a client error naming runuser)
    outcome = CommandRecorder().command(API, ["evidence-no-such-tool"], user="postgres")
    assert isinstance(outcome, Failed) and outcome.kind == "unreachable"
    assert outcome.error.code == "ToolNotFound"


def test_looked_up_on_the_path_it_runs_with(tmp_path: Path) -> None:
    assert installed("sh")
    assert not installed("sh", {"PATH": str(tmp_path)})
    outcome = CommandRecorder().command(API, ["sh", "-c", "true"], env={"PATH": str(tmp_path)})
    assert isinstance(outcome, Failed) and outcome.error.code == "ToolNotFound"


def test_a_failing_exit_carries_the_tool_s_words() -> None:
    outcome = CommandRecorder().command(API, ["sh", "-c", "echo 'stanza: not found' >&2; exit 4"])
    assert isinstance(outcome, Failed) and outcome.kind == "client_error"
    assert outcome.error.code == "exit 4" and outcome.error.message == "stanza: not found"
    denied = CommandRecorder().command(API, ["sh", "-c", "exit 9"], denied_codes=(9,))
    assert isinstance(denied, Failed) and denied.kind == "access_denied"
    assert denied.error.permission == "file:read"

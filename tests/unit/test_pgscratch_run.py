"""How a scratch tool's failures are told apart: a tool that is not installed (the host's problem, the
step could not run) from a tool that ran and failed (a finding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import pgscratch as scratch


def test_a_tool_that_is_not_installed_is_tool_not_found(tmp_path: Path) -> None:
    with pytest.raises(scratch.ToolNotFound, match="evidence-no-such-tool is not installed on this host"):
        scratch.run(["evidence-no-such-tool", "--version"], as_server=False)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")  # there, but not executable
    with pytest.raises(scratch.ToolNotFound):
        scratch.run([str(script)], as_server=False)
    # looked up on the PATH the tool runs with
    with pytest.raises(scratch.ToolNotFound, match="sh is not installed"):
        scratch.run(["sh", "-c", "true"], as_server=False, env={"PATH": str(tmp_path)})


def test_a_tool_that_ran_and_failed_is_a_plain_scratch_error() -> None:
    with pytest.raises(scratch.ScratchError, match="sh exited 3: gone") as caught:
        scratch.run(["sh", "-c", "echo gone >&2; exit 3"], as_server=False)
    assert not isinstance(caught.value, scratch.ToolNotFound)
    assert scratch.run(["sh", "-c", "echo ok"], as_server=False) == "ok\n"

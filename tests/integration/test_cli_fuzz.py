"""Hypothesis against every command's arguments: never a traceback, never an internal error, and the
exit code is 0, 1 or 2 (the CLI's contract). In this process (``main()`` as the console script runs
it), on a real store with records, so each example costs milliseconds.

Left out on purpose: ``demo`` (starts emulators), ``collect`` (talks to a cloud) and ``witness serve``
(serves until interrupted) run with their options drawn too, but only values that are refused before
they would start anything; ``--published`` never gets an s3:// URL (it would reach AWS).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

NASTY_TEXT = [
    "",
    " ",
    "-",
    "--",
    "\x1b[2J",
    "a\nb",
    "\u202e",
    "\x00",
    os.fsdecode(b"\xff\xfe"),  # undecodable bytes, as Python passes them on
    "9" * 40,
    "-" + "9" * 40,
    "0",
    "-1",
    "1e309",
    "nan",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31",
    "2026-02-30",
    "1970-01-01T00:00:00Z",
    "SEED003-SEC-01",
    "seed003-sec-01",
    "soc2:CC6.1",
    "postgresql://u@h:port/db",
    "sqlite://",
    "sqlite:///:memory:",
    "file:///nonexistent",
    "/dev/zero",
    "/",
    "..",
    "%s%n",
    "{}",
    "[bold]x[/bold]",
]
text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
    st.integers().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)

numbers = st.one_of(st.integers().map(str), st.sampled_from(["9" * 40, "-1", "0", "1e309", "x", ""]))
dates = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59", "2001-01-01", "now"]),
)
VALUES = {
    "--limit": numbers,
    "--tree-size": numbers,
    "--witnesses": numbers,
    "--since": dates,
    "--until": dates,
    "--valid-until": dates,
}

# command -> options it takes (with a value) and flags; positional arguments are drawn from `text`.
COMMANDS: dict[str, tuple[list[str], list[str], int]] = {
    "catalog": (["--framework", "--method", "--type", "--search", "--seed"], ["--json"], 0),
    "types": (["--family"], ["--json"], 0),
    "list": (["--type", "--status", "--control", "--since", "--until", "--limit"], ["--json"], 0),
    "show": ([], ["--payload", "--json"], 1),
    "append": (
        ["--control", "--statement", "--by", "--role", "--file", "--valid-until"],
        ["--not-in-place", "--follow-symlinks", "--json"],
        0,
    ),
    "accept-risk": (["--control", "--reason", "--by", "--until", "--role"], ["--json"], 0),
    "verify": (
        ["--public-key", "--trusted-head", "--witness-key", "--witnesses", "--tsa-cert", "--published"],
        ["--forget", "--no-blobs", "--json"],
        0,
    ),
    "posture": (["--framework", "--fail-on"], ["--controls", "--json"], 0),
    "tree-head": ([], ["--json"], 0),
    "prove": (["--tree-size", "--public-key", "--trusted-head"], [], 1),
    "consistency": (["--public-key", "--trusted-head"], [], 2),
    "policy": (["--type"], [], 1),
    "families": ([], ["--json"], 0),
    "checkpoint": ([], ["--no-publish"], 0),
    "witness keygen": (["--name"], [], 0),
}


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    options, flags, positional = COMMANDS[command]
    args = command.split()
    for _ in range(positional):
        args.append(draw(numbers if command == "consistency" else text))
    for option in draw(st.lists(st.sampled_from(options), max_size=4)) if options else []:
        value = draw(st.one_of(VALUES[option], text) if option in VALUES else text)
        if option == "--published" and "s3:" in value:
            value = "x"
        args += [option, value]
    args += draw(st.lists(st.sampled_from(flags), max_size=2, unique=True)) if flags else []
    if command == "witness keygen":
        args += ["--key", "/nonexistent-dir/key.pem"]  # refused before anything is written
    return args


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    saved = dict(os.environ)
    for name in ("EVIDENCE_STORE_URL", "EVIDENCE_SIGNING_KEY", "EVIDENCE_BLOB_URL", "EVIDENCE_WITNESSES"):
        os.environ.pop(name, None)
    os.environ["COLUMNS"] = "120"
    code, out, err = invoke(
        folder, ["append", "-c", "SEED003-SEC-01", "--statement", "s", "--by", "b", "--json"]
    )
    assert code == 0, err
    record_id = json.loads(out)[0]["id"]
    NASTY_TEXT.extend([record_id, record_id[:8]])
    try:
        yield folder
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke(folder: Path, args: list[str]) -> tuple[int, str, str]:
    from evidence import cli

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, Path.cwd()
    sys.argv = ["evidence", "--store", f"sqlite:///{folder / 'evidence.db'}", *args]
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else -1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return code, out.getvalue(), err.getvalue()


@settings(
    max_examples=int(os.environ.get("EVIDENCE_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(args=invocations())
def test_no_arguments_make_a_traceback(store: Path, args: list[str]) -> None:
    code, _out, err = invoke(store, args)
    assert "Traceback" not in err, (args, err)
    assert "internal error" not in err, (args, err)
    assert code in (0, 1, 2), (args, code, err)


def test_commands_run_again_in_the_same_process(store: Path) -> None:
    """What makes the fuzz test meaningful: each example reaches the command itself."""
    for _ in range(2):
        code, out, err = invoke(store, ["list", "--json"])
        assert code == 0, err
        assert json.loads(out)

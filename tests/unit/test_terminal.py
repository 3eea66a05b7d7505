"""Human output cannot be forged by data: evidence.terminal, and the CLI printing only through it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.table import Table
from rich.text import Text

from evidence.attestation import read_document
from evidence.errors import UsageError
from evidence.terminal import SafeConsole, is_clean, neutralise

HOSTILE = [
    "\x1b[2J",  # clear screen
    "\x1b]0;owned\x07",  # OSC: retitle the terminal
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31m",  # C1 CSI
    "\x85",  # C1 next line
    "a\rb",
    "name\nPROBLEM forged line",
    "\u202egnp.exe",  # right-to-left override
    "\u2066isolate\u2069",
    "\u2028line separator",
    "\x00\x7f",
    "\udcff",  # an undecodable byte, as Python passes it on
]


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralise_shows_every_control_character(text: str) -> None:
    shown = neutralise(text)
    assert is_clean(shown)
    assert "\\" in shown  # visible, not dropped
    assert neutralise("plain [bold]text[/bold] é ✓") == "plain [bold]text[/bold] é ✓"


def _render(*renderables: object, force_terminal: bool = False) -> str:
    buffer = io.StringIO()
    console = SafeConsole(
        file=buffer,
        width=200,
        force_terminal=force_terminal,
        color_system="standard" if force_terminal else None,
    )
    for item in renderables:
        console.print(item, markup=False)
    return buffer.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_console_writes_no_control_character_from_data(text: str) -> None:
    table = Table(title="t")
    table.add_column("name")
    table.add_row(text)
    output = _render(text, Text(text), table)
    assert "\x1b" not in output and not any(c in output for c in "\x07\x85\x9b\u202e\u2066\u2028\x00\x7f")
    assert all(is_clean(line) for line in output.splitlines())


def test_safe_console_keeps_its_own_styling() -> None:
    output = _render(Text("failing", style="red"), force_terminal=True)
    assert "\x1b[31m" in output and "failing" in output


def test_the_cli_prints_through_safe_consoles_only() -> None:
    from evidence import cli

    assert isinstance(cli.out, SafeConsole) and isinstance(cli.err, SafeConsole)
    table = Table()
    table.add_column("reason")
    cli._add_row(table, "evil\nseq 9 forged row \x1b[2J")
    buffer = io.StringIO()
    SafeConsole(file=buffer, width=200).print(table)
    lines = buffer.getvalue().splitlines()
    assert not any(line.lstrip("│ ").startswith("seq 9") for line in lines)
    assert sum("forged" in line for line in lines) == 1


# --- supporting documents ----------------------------------------------------------------------------


def test_a_document_must_be_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a device"):
        read_document(Path("/dev/zero"))
    with pytest.raises(UsageError, match="is a directory"):
        read_document(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="is a FIFO"):
        read_document(fifo)  # would block forever if opened blocking


def test_a_symlink_is_refused_unless_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF report")
    link = tmp_path / "link.pdf"
    link.symlink_to(target)
    with pytest.raises(UsageError, match=r"symbolic link.*--follow-symlinks"):
        read_document(link)
    assert read_document(link, follow_symlinks=True) == b"%PDF report"


def test_the_size_cap_is_enforced_while_reading_not_from_stat(tmp_path: Path) -> None:
    # /proc files are regular files whose stat() size is 0: only counting the bytes read catches them.
    proc = Path("/proc/self/maps")
    assert proc.stat().st_size == 0
    with pytest.raises(UsageError, match="over the 64 byte limit"):
        read_document(proc, limit=64)
    small = tmp_path / "small.txt"
    small.write_bytes(b"x" * 64)
    assert read_document(small, limit=64) == b"x" * 64
    small.write_bytes(b"x" * 65)
    with pytest.raises(UsageError, match="over the 64 byte limit"):
        read_document(small, limit=64)

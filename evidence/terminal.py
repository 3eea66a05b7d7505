"""Human output that data cannot forge: every character a terminal would act on is shown, not obeyed.

Evidence carries text nobody here wrote: resource names from a cloud account, statements typed by
people, ids given on the command line, rows of a tampered database. Printed raw, ``ESC[2J`` clears the
auditor's screen, an OSC sequence retitles it or forges a hyperlink, a bidi override reverses what
they read, and a newline inside a name forges a whole table line. So:

- :func:`neutralise` turns C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi
  embeddings/overrides/isolates and the invisible marks, and undecodable bytes (lone surrogates from a
  non-UTF-8 argument) into visible escapes such as ``\\x1b``, ``\\n`` or ``\\u202e``. A value shown in a
  table cell or on a ``key: value`` line goes through it (newlines included).
- :class:`SafeConsole` is the one Rich console the CLI prints through: before Rich writes anything, it
  neutralises the text of every segment (keeping only the newlines of its own layout), so text that
  reaches a console by any other path is still harmless. Rich's own styling is generated from styles
  after this step, and its cursor-control segments (progress bars) are left alone.

``--json`` output is not touched: JSON escapes control characters itself, and it must stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

# C0 controls and DEL, C1 controls, line/paragraph separators, bidi marks/embeddings/overrides/isolates,
# the Arabic letter mark, zero-width joiners and the BOM (invisible, used to spoof), lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def neutralise(value: object, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control, bidi and undecodable character shown as a visible escape."""
    text = value if isinstance(value, str) else str(value)
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


def is_clean(text: str) -> bool:
    """No character :func:`neutralise` would change, newlines included."""
    return _UNSAFE.search(text) is None


class SafeConsole(Console):
    """A Rich console that neutralises the text of everything it writes (see the module docstring)."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        safe: list[Segment] = []
        for segment in buffer:
            text, style, control = segment
            if control or not _UNSAFE_BUT_NEWLINE.search(text):
                safe.append(segment)
            else:
                safe.append(Segment(_UNSAFE_BUT_NEWLINE.sub(_escape, text), style, control))
        return super()._render_buffer(safe)

"""Files that other processes read while they are written: a reader sees the old content or the new,
never a part, and a failed write leaves neither a half file nor its temporary behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None, fsync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` (created 0600 whatever the umask), give it
    ``mode``, flush it to disk when ``fsync``, and rename it over ``path``. Raises ``OSError``."""
    raw = data.encode() if isinstance(data, str) else data
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise

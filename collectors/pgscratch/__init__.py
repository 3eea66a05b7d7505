"""Scratch PostgreSQL clusters on loopback: created for a drill, a demo or a test, always torn down.

A shared support package, not a collector family (no entry point): the drill family restores into
these clusters, the pgsql, pgBackRest, restic and drill demos run their sources on them, and the
tests build their estates with them. It imports no family.

A cluster lives in its own folder under the scratch root (``EVIDENCE_SCRATCH_ROOT``, default
``<tmp>/evidence-scratch``) with an ``owner.json`` naming the process that made it. Whatever happens
to that process (an exception, SIGKILL, a lost Airflow worker), :func:`reap` run by any later drill
stops each cluster whose owner is gone and removes its folder, so no postmaster, port or folder is
left behind. A cluster kept on purpose (``keep``) says so in its ``owner.json`` and is not reaped.

The server tools come from ``pg_config --bindir`` (or ``/usr/lib/postgresql/<newest>/bin``);
``initdb`` refuses root, so as root every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.core.commands import installed
from evidence.errors import EvidenceError
from evidence.files import write_atomic

SERVER_USER = "postgres"
OWNER_FILE = "owner.json"
# A scratch folder without a readable owner file is reaped only once it is this old (seconds).
UNOWNED_GRACE_SECONDS = 600


class ScratchError(EvidenceError):
    """A scratch cluster could not be created, started or reached; the message names the step."""


class ToolNotFound(ScratchError):
    """A tool a step runs is not installed on this host: the step could not be run at all (an error
    of the host, never a finding about the backup or the cluster)."""


def scratch_root() -> Path:
    root = Path(os.environ.get("EVIDENCE_SCRATCH_ROOT") or Path(tempfile.gettempdir()) / "evidence-scratch")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o1777)  # the server user creates its data folders here
    return root


def bindir() -> Path:
    """The PostgreSQL server tools (initdb, pg_ctl, pg_verifybackup...)."""
    configured = os.environ.get("EVIDENCE_PG_BINDIR")
    if configured:
        return Path(configured)
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        found = Path(out.stdout.strip())
        if (found / "pg_verifybackup").exists():
            return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise ScratchError("no PostgreSQL server tools: set EVIDENCE_PG_BINDIR or install postgresql")
    return versions[-1]


def tool(name: str) -> str:
    path = bindir() / name
    return str(path) if path.exists() else name


def as_server_user(argv: Sequence[str]) -> list[str]:
    """Run ``argv`` as the server user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *argv]
    return list(argv)


def server_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def give_to_server_user(path: Path) -> None:
    """Hand a folder tree to the server user (a restore written by root, a backup folder)."""
    uid, gid = server_ids()
    if os.geteuid() != 0:
        return
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                os.lchown(Path(dirpath) / name, uid, gid)


def run(
    argv: Sequence[str], *, timeout: float = 600, check: bool = True, as_server: bool = True, **kwargs: Any
) -> str:
    """Run a tool (as the server user when root, unless ``as_server`` is false); its stderr becomes the
    error's message. A tool that is not installed is :class:`ToolNotFound` (checked here: run through
    ``runuser`` it would only be an exit status)."""
    if not installed(argv[0], kwargs.get("env")):
        raise ToolNotFound(
            f"{Path(argv[0]).name} is not installed on this host (not on PATH or not executable)"
        )
    try:
        done = subprocess.run(
            as_server_user(argv) if as_server else list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise ScratchError(f"{Path(argv[0]).name} timed out after {timeout:.0f} s") from exc
    except OSError as exc:
        raise ScratchError(f"{Path(argv[0]).name}: {exc}") from exc
    if check and done.returncode != 0:
        message = " ".join((done.stderr or done.stdout or "").split())[-600:]
        raise ScratchError(f"{Path(argv[0]).name} exited {done.returncode}: {message}")
    return str(done.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ScratchCluster:
    """One cluster: its folder (owner file, socket, log), data directory and loopback port."""

    folder: Path
    port: int
    keep: bool = False
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    @property
    def logfile(self) -> Path:
        return self.folder / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.folder

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={dbname} connect_timeout=10"

    def conninfo(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "user": SERVER_USER}

    def _write_owner(self) -> None:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "port": self.port,
            "created": time.time(),
            "keep": self.keep,
        }
        # Atomically: a reaper (another thread or process) never reads half a file and takes a live
        # cluster for a killed run's leftover.
        write_atomic(self.folder / OWNER_FILE, json.dumps(owner), mode=0o644)

    def mark_kept(self) -> None:
        self.keep = True
        self._write_owner()

    def init(self, *, checksums: bool = True) -> None:
        """``initdb`` an empty data directory (trust auth, UTF8, C locale; data checksums unless not
        wanted), then :meth:`configure` it."""
        run(
            [
                tool("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SERVER_USER,
                "--auth=trust",
                *(["--data-checksums"] if checksums else []),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            timeout=120,
        )
        self.configure()

    def configure(self, extra: dict[str, str] | None = None) -> None:
        """Loopback only, on our port and socket folder; no archiving unless asked (a restored
        cluster must never push WAL into the repository it came from)."""
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "archive_mode": "off",
            "fsync": "off",  # a scratch cluster is thrown away; fsync only slows drills and tests
            "max_connections": "40",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            **self.settings,
            **(extra or {}),
        }
        auto = self.datadir / "postgresql.auto.conf"
        text = auto.read_text() if auto.exists() else ""
        text += "\n# scratch cluster settings (evidence drill)\n"
        text += "".join(f"{k} = {v}\n" for k, v in conf.items())
        auto.write_text(text)
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            "local replication all trust\nhost replication all 127.0.0.1/32 trust\n"
        )
        give_to_server_user(self.datadir)

    def start(self, timeout: float = 120) -> None:
        # Recovery signal files, standby settings and a stale postmaster.pid are left to the caller.
        run(
            [
                tool("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout=timeout + 30,
        )

    def running(self) -> bool:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (ValueError, OSError):
            return False
        return _alive(pid)

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            run(
                [tool("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop"],
                check=False,
                timeout=90,
            )
        _kill_postmaster(self.datadir)

    def destroy(self) -> None:
        """Stop the server and remove the folder (data, socket, log)."""
        with contextlib.suppress(ScratchError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, chars: int = 800) -> str:
        """The server's own complaints (FATAL/PANIC/ERROR lines, the last few), else the log's end."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if any(k in ln for k in ("FATAL:", "PANIC:", "ERROR:"))]
        chosen = (
            " | ".join(" ".join(ln.split()) for ln in lines[-3:])
            if lines
            else " ".join(text[-chars:].split())
        )
        return chosen[-chars:]


def _kill_postmaster(datadir: Path) -> None:
    """The last resort when pg_ctl could not stop a server: signal the postmaster's group."""
    pidfile = datadir / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (ValueError, OSError):
        return
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)
    for _ in range(100):
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def new_cluster(
    purpose: str, *, keep: bool = False, settings: dict[str, str] | None = None
) -> ScratchCluster:
    """An empty folder for a cluster (no data directory yet) with its owner file and a free port."""
    reap()
    folder = Path(tempfile.mkdtemp(prefix=f"{purpose}-", dir=scratch_root()))
    folder.chmod(0o755)
    cluster = ScratchCluster(folder=folder, port=free_port(), keep=keep, settings=dict(settings or {}))
    cluster._write_owner()
    uid, gid = server_ids()
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
    return cluster


def initdb(purpose: str, *, keep: bool = False, settings: dict[str, str] | None = None) -> ScratchCluster:
    """A new cluster, initialised (data checksums on) and configured, not started."""
    cluster = new_cluster(purpose, keep=keep, settings=settings)
    try:
        cluster.init()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


@contextlib.contextmanager
def scratch_cluster(
    purpose: str, *, keep: bool = False, start: bool = True, settings: dict[str, str] | None = None
) -> Iterator[ScratchCluster]:
    """``initdb`` + start; stopped and removed on exit unless kept."""
    cluster = initdb(purpose, keep=keep, settings=settings)
    try:
        if start:
            cluster.start()
        yield cluster
    finally:
        if not cluster.keep:
            cluster.destroy()


def reap(root: Path | None = None) -> list[str]:
    """Stop and remove every scratch cluster whose owner process is gone (a killed run's leftovers).
    Returns the folders removed."""
    base = root or scratch_root()
    removed = []
    for folder in sorted(base.iterdir()) if base.exists() else []:
        if not folder.is_dir():
            continue
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
            if not isinstance(owner, dict):
                raise ValueError("not an object")
        except (OSError, ValueError):
            # No readable owner file: a folder being made right now (mkdtemp, then the owner file),
            # or what a run killed in between left. Only the latter is old.
            if _age(folder) < UNOWNED_GRACE_SECONDS:
                continue
            owner = {}
        if owner.get("keep"):
            continue
        if owner.get("host") == socket.gethostname() and _alive(int(owner.get("pid") or 0)):
            continue
        cluster = ScratchCluster(folder=folder, port=int(owner.get("port") or 0))
        cluster.destroy()
        removed.append(str(folder))
    return removed


def _age(folder: Path) -> float:
    try:
        return time.time() - folder.stat().st_mtime
    except OSError:
        return 0.0


def leftovers(prefix: str = "drill-", root: Path | None = None) -> list[str]:
    """Folders of scratch clusters (named ``prefix*``) owned by this process (tests check none
    survive a drill)."""
    base = root or scratch_root()
    found = []
    for folder in sorted(base.glob(prefix + "*")) if base.exists() else []:
        with contextlib.suppress(OSError, ValueError):
            owner = json.loads((folder / OWNER_FILE).read_text())
            if int(owner.get("pid") or 0) == os.getpid():
                found.append(str(folder))
    return found

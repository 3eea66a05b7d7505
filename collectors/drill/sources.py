"""Where a restore drill gets its backup: pgBackRest, a ``pg_basebackup`` folder, or a restic
snapshot of dumps. Each source locates the chosen backup (``latest`` or an id), verifies it with the
tool's own verifier, and restores it into a scratch cluster's data directory (or, for a dump, into a
started empty cluster). Each also takes backups with a manifest (tests, the benchmark, and
operators who want manifest-checked drills: ``evidence drill backup``).

Tool failures raise :class:`DrillStepFailed` (the backup is bad: a ``fail``) or
:class:`~collectors.pgscratch.ScratchError` from a tool that could not run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.drill import manifest as manifests
from collectors.pgscratch import ScratchCluster, ScratchError, ToolNotFound, give_to_server_user, run, tool
from evidence.errors import ConfigError, EvidenceError
from evidence.records import ApiCall

MANIFEST_NAME = "evidence-manifest.json"


class DrillStepFailed(EvidenceError):
    """A drill step found the backup unusable (corrupt, incomplete, missing): the drill fails."""


def start_server(cluster: ScratchCluster) -> None:
    """Start a drill's scratch server; one that will not start fails the step with its log's tail."""
    try:
        cluster.start()
    except ToolNotFound:
        raise
    except ScratchError as exc:
        raise DrillStepFailed(f"{exc}; server log: {cluster.log_tail()}") from exc


def call_tool(calls: list[ApiCall], service: str, operation: str, argv: list[str], **kwargs: Any) -> str:
    """Run one tool command of a drill, logged in ``calls`` (parameters without secrets). A tool that
    fails is the drill's finding (:class:`DrillStepFailed`: the drill fails, naming it); a tool that is
    not installed is not (:class:`ToolNotFound` propagates: the drill could not be run, an error)."""
    params = {"argv": " ".join(a for a in argv[1:] if "password" not in a.lower())[:256]}
    try:
        out = run(argv, **kwargs)
    except ToolNotFound:
        calls.append(ApiCall(service=service, operation=operation, params=params, error_code="ToolNotFound"))
        raise
    except ScratchError as exc:
        calls.append(ApiCall(service=service, operation=operation, params=params, error_code="exit"))
        raise DrillStepFailed(str(exc)) from exc
    calls.append(ApiCall(service=service, operation=operation, params=params))
    return out


@dataclass
class Located:
    """The backup a drill restores."""

    backup_id: str
    consistent_at: datetime | None  # the newest moment whose data the backup holds
    manifest: manifests.Manifest | None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class BackupSource:
    kind = ""
    verifier = ""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.calls: list[ApiCall] = []

    def call(self, operation: str, argv: list[str], *, as_server: bool = True, **kwargs: Any) -> str:
        """Run one tool command, logged as a call (see :func:`call_tool`)."""
        return call_tool(self.calls, self.kind, operation, argv, as_server=as_server, **kwargs)

    def target(self) -> dict[str, str]:
        raise NotImplementedError

    def locate(self, backup: str) -> Located:
        raise NotImplementedError

    def verify(self, located: Located) -> str:
        raise NotImplementedError

    def checked_by_restore(self) -> str | None:
        """When the restore itself checks every file of the backup against the backup's own checksums
        and no separate verifier is asked for: what it checks (the drill then records that as the
        ``verify_backup`` step instead of reading the backup a second time)."""
        return None

    def restore(self, located: Located, cluster: ScratchCluster) -> str:
        """Fill ``cluster.datadir`` (physical backups) and return a detail; the caller starts it."""
        raise NotImplementedError

    physical = True

    def load(self, located: Located, cluster: ScratchCluster) -> str:
        """Logical sources: load the backup into the started cluster."""
        raise NotImplementedError


# --- pgBackRest ---------------------------------------------------------------------------------------


class PgBackRest(BackupSource):
    kind = "pgbackrest"
    verifier = "pgbackrest verify"

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.stanza = settings.get("stanza")
        self.config = settings.get("pgbackrest_config")
        if not self.stanza:
            raise ConfigError("drill from pgbackrest: set stanza (--stanza or EVIDENCE_DRILL_STANZA)")

    def base(self, console: str = "warn") -> list[str]:
        argv = ["pgbackrest", f"--stanza={self.stanza}", f"--log-level-console={console}"]
        if self.config:
            argv.insert(1, f"--config={self.config}")
        return argv

    def target(self) -> dict[str, str]:
        return {"source": self.kind, "stanza": str(self.stanza)}

    def info(self) -> list[dict[str, Any]]:
        out = self.call("info", [*self.base(), "--output=json", "info"], timeout=120)
        stanzas = json.loads(out or "[]")
        if not stanzas:
            raise DrillStepFailed(f"stanza {self.stanza} not found in the repository")
        status = stanzas[0].get("status", {})
        if status.get("code") not in (0, None) and not stanzas[0].get("backup"):
            raise DrillStepFailed(f"stanza {self.stanza}: {status.get('message')}")
        return list(stanzas[0].get("backup") or [])

    def manifest_path(self, label: str) -> Path | None:
        folder = self.settings.get("manifest_dir")
        return Path(folder) / str(self.stanza) / f"{label}.json" if folder else None

    def locate(self, backup: str) -> Located:
        sets = self.info()
        if not sets:
            raise DrillStepFailed(f"stanza {self.stanza} has no backup sets")
        chosen = sets[-1] if backup == "latest" else next((s for s in sets if s["label"] == backup), None)
        if chosen is None:
            raise DrillStepFailed(f"backup set {backup} not in stanza {self.stanza}")
        label = chosen["label"]
        path = self.manifest_path(label)
        found = manifests.read(path) if path and path.exists() else None
        stop = _parse_time(chosen.get("timestamp", {}).get("stop"))
        return Located(label, stop, found, detail=f"{chosen.get('type')} backup set {label}")

    def checked_by_restore(self) -> str | None:
        # pgbackrest restore hashes every file it writes and fails with "actual checksum ... does not
        # match expected checksum" unless it equals the SHA-1 in the set's manifest; the WAL the set
        # needs is then proven by recovery reaching the consistent point (``start``). `pgbackrest
        # verify` (2.45 has no per-set verify) would read every set and the whole WAL archive again:
        # on request only.
        if self.settings.get("verify_repository"):
            return None
        return (
            f"pgbackrest restore checked each file of {self.stanza}'s set against the SHA-1 in its "
            "backup manifest as it wrote it (verify_repository: also `pgbackrest verify` the whole "
            "repository)"
        )

    def verify(self, located: Located) -> str:
        # Every core it can get: the drill runs it alongside the restore, and on a big repository
        # (all WAL since the oldest backup, every set) it has more to read than the restore.
        processes = max(1, min(4, os.cpu_count() or 1))
        out = self.call("verify", [*self.base("info"), f"--process-max={processes}", "verify"], timeout=1800)
        if "checksum invalid" in out or "missing" in out.lower():
            raise DrillStepFailed("pgbackrest verify: " + " ".join(out.split())[-400:])
        return "repository files and WAL archive match their checksums"

    def restore(self, located: Located, cluster: ScratchCluster) -> str:
        cluster.datadir.mkdir(mode=0o700)
        give_to_server_user(cluster.datadir)
        self.call(
            "restore",
            [
                *self.base(),
                f"--pg1-path={cluster.datadir}",
                f"--set={located.backup_id}",
                "--type=immediate",
                "--target-action=promote",
                "--archive-mode=off",
                "restore",
            ],
            timeout=3600,
        )
        return f"restored {located.backup_id} to its consistent point"

    def take(self, conninfo: dict[str, Any], kind: str = "full") -> str:
        """A backup, then its manifest (the cluster must be quiet in between)."""
        self.call("backup", [*self.base(), f"--type={kind}", "backup"], timeout=3600)
        label = str(self.info()[-1]["label"])
        path = self.manifest_path(label)
        if path:
            manifests.write(manifests.take(conninfo), path)
        return label


# --- pg_basebackup -------------------------------------------------------------------------------------


class BaseBackup(BackupSource):
    kind = "basebackup"
    verifier = "pg_verifybackup"

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        folder = settings.get("basebackup_dir")
        if not folder:
            raise ConfigError("drill from basebackup: set basebackup_dir (--basebackup-dir)")
        self.folder = Path(folder)

    def target(self) -> dict[str, str]:
        return {"source": self.kind, "folder": str(self.folder)}

    def backups(self) -> list[Path]:
        if not self.folder.is_dir():
            raise DrillStepFailed(f"backup folder {self.folder} does not exist")
        return sorted(p for p in self.folder.iterdir() if (p / "backup_manifest").exists())

    def locate(self, backup: str) -> Located:
        found = self.backups()
        if not found:
            raise DrillStepFailed(f"no pg_basebackup backup (a folder with backup_manifest) in {self.folder}")
        chosen = found[-1] if backup == "latest" else self.folder / backup
        if not (chosen / "backup_manifest").exists():
            raise DrillStepFailed(f"backup {backup} not found in {self.folder}")
        side = chosen.with_name(chosen.name + ".manifest.json")
        held = manifests.read(side) if side.exists() else None
        stop = _parse_time(held.get("backup_stop")) if held else None
        if stop is None:
            stop = datetime.fromtimestamp((chosen / "backup_manifest").stat().st_mtime, UTC)
        return Located(chosen.name, stop, held, detail=f"pg_basebackup {chosen.name}", extra={"path": chosen})

    def verify(self, located: Located) -> str:
        path = located.extra["path"]
        self.call(
            "pg_verifybackup",
            [tool("pg_verifybackup"), "--quiet", "-w", str(path / "pg_wal"), str(path)],
            as_server=False,
            timeout=3600,
        )
        return "files and WAL match backup_manifest"

    def restore(self, located: Located, cluster: ScratchCluster) -> str:
        started = time.monotonic()
        shutil.copytree(located.extra["path"], cluster.datadir, symlinks=True)
        cluster.datadir.chmod(0o700)
        for leftover in ("postmaster.pid", "postmaster.opts"):
            (cluster.datadir / leftover).unlink(missing_ok=True)
        give_to_server_user(cluster.datadir)
        self.calls.append(ApiCall(service=self.kind, operation="copy", params={"backup": located.backup_id}))
        return f"copied {located.backup_id} in {time.monotonic() - started:.2f} s"

    def take(self, conninfo: dict[str, Any], label: str | None = None) -> str:
        name = label or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = self.folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.call(
            "pg_basebackup",
            [
                tool("pg_basebackup"),
                "-h",
                conninfo["host"],
                "-p",
                str(conninfo["port"]),
                "-U",
                conninfo["user"],
                "-D",
                str(dest),
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            as_server=False,
            timeout=3600,
        )
        held = manifests.take(conninfo)
        held["backup_stop"] = datetime.fromtimestamp(
            (dest / "backup_manifest").stat().st_mtime, UTC
        ).isoformat()
        manifests.write(held, dest.with_name(name + ".manifest.json"))
        return name


# --- restic ---------------------------------------------------------------------------------------------


class Restic(BackupSource):
    """Snapshots holding ``<db>.dump`` files (``pg_dump -Fc``) and the manifest taken with them."""

    kind = "restic"
    verifier = "restic check"
    physical = False

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.repo = settings.get("restic_repository")
        if not self.repo:
            raise ConfigError("drill from restic: set restic_repository (--restic-repository)")
        self.env = dict(os.environ)
        self.env["RESTIC_REPOSITORY"] = str(self.repo)
        if settings.get("restic_password_file"):
            self.env["RESTIC_PASSWORD_FILE"] = str(settings["restic_password_file"])
        if settings.get("restic_password"):
            self.env["RESTIC_PASSWORD"] = str(settings["restic_password"])
        self.env.setdefault("RESTIC_CACHE_DIR", str(Path(tempfile.gettempdir()) / "evidence-restic-cache"))
        self.workdir: Path | None = None

    def target(self) -> dict[str, str]:
        return {"source": self.kind, "repository": str(self.repo)}

    def restic(self, operation: str, *args: str, timeout: float = 3600) -> str:
        return self.call(
            operation,
            ["restic", "--no-lock" if operation == "snapshots" else "-q", *args],
            as_server=False,
            env=self.env,
            timeout=timeout,
        )

    def locate(self, backup: str) -> Located:
        snaps = json.loads(self.restic("snapshots", "snapshots", "--json", "--tag", "evidence-dump") or "[]")
        if not snaps:
            raise DrillStepFailed(f"restic repository {self.repo} has no snapshots of database dumps")
        snaps.sort(key=lambda s: s["time"])
        chosen = (
            snaps[-1]
            if backup == "latest"
            else next((s for s in snaps if s["id"].startswith(backup) or s.get("short_id") == backup), None)
        )
        if chosen is None:
            raise DrillStepFailed(f"snapshot {backup} not in restic repository {self.repo}")
        return Located(
            chosen["short_id"],
            _parse_time(chosen["time"]),
            None,
            detail=f"snapshot {chosen['short_id']}",
            extra={"id": chosen["id"], "paths": chosen.get("paths", [])},
        )

    def verify(self, located: Located) -> str:
        # Without a lock of its own: the drill runs it alongside ``restic restore``, whose
        # non-exclusive lock already keeps a prune (exclusive) away, and an exclusive check lock
        # would make that restore fail. A repository changed under it is an error, never a pass.
        self.restic("check", "--no-lock", "check", timeout=3600)
        return "repository structure and index check out"

    def restore(self, located: Located, cluster: ScratchCluster) -> str:
        self.workdir = cluster.folder / "restic-restore"
        self.workdir.mkdir()
        self.restic("restore", "restore", located.extra["id"], "--target", str(self.workdir))
        found = list(self.workdir.rglob(MANIFEST_NAME))
        if found:
            located.manifest = manifests.read(found[0])
            consistent = _parse_time(located.manifest.get("dump_started"))
            if consistent:
                located.consistent_at = consistent
        dumps = list(self.workdir.rglob("*.dump"))
        if not dumps:
            raise DrillStepFailed(f"snapshot {located.backup_id} holds no database dump (*.dump)")
        located.extra["dumps"] = dumps
        return f"fetched {len(dumps)} dump(s) from snapshot {located.backup_id}"

    def load(self, located: Located, cluster: ScratchCluster) -> str:
        info = cluster.conninfo()
        loaded = []
        for dump in located.extra["dumps"]:
            db = dump.name.removesuffix(".dump")
            base = ["-h", info["host"], "-p", str(info["port"]), "-U", info["user"]]
            if db != "postgres":
                self.call("createdb", [tool("createdb"), *base, db], as_server=False, timeout=120)
            self.call(
                "pg_restore",
                [tool("pg_restore"), *base, "-d", db, "--no-owner", "--exit-on-error", str(dump)],
                as_server=False,
                timeout=3600,
            )
            loaded.append(db)
        return "loaded " + ", ".join(loaded)

    def take(self, conninfo: dict[str, Any], databases: list[str]) -> str:
        with tempfile.TemporaryDirectory(prefix="evidence-dump-") as tmp:
            folder = Path(tmp) / "dumps"
            folder.mkdir()
            started = datetime.now(UTC)
            base = ["-h", conninfo["host"], "-p", str(conninfo["port"]), "-U", conninfo["user"]]
            for db in databases:
                self.call(
                    "pg_dump",
                    [tool("pg_dump"), *base, "-Fc", "-f", str(folder / f"{db}.dump"), db],
                    as_server=False,
                    timeout=3600,
                )
            held = manifests.take(conninfo, databases)
            held["dump_started"] = started.isoformat()
            manifests.write(held, folder / MANIFEST_NAME)
            out = self.restic("backup", "backup", "--json", "--tag", "evidence-dump", str(folder))
            summary = [json.loads(line) for line in out.splitlines() if '"summary"' in line]
            return str(summary[-1]["snapshot_id"])[:8] if summary else ""


SOURCES: dict[str, type[BackupSource]] = {
    "pgbackrest": PgBackRest,
    "basebackup": BaseBackup,
    "restic": Restic,
}


def backup_source(kind: str, settings: dict[str, Any]) -> BackupSource:
    try:
        return SOURCES[kind](settings)
    except KeyError:
        raise ConfigError(f"unknown backup source {kind!r}; choose one of {', '.join(SOURCES)}") from None

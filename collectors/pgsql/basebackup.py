"""pgsql.basebackup: every ``pg_basebackup`` backup in a folder checked with ``pg_verifybackup``
(files and WAL against ``backup_manifest``), and the newest one's age."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.core import Failed, Outcome, Snapshot
from collectors.core.family import FetchContext
from collectors.pgsql.family import POSTGRES, PostgresConfig
from evidence.records import SourceError
from evidence.registry import ApiPermission, Row

VERIFY = ApiPermission("pg_verifybackup", "verify", "file:read_backups")


def verifybackup() -> str:
    """``pg_verifybackup`` is in the server's bindir, often off PATH (Debian)."""
    found = shutil.which("pg_verifybackup")
    if found:
        return found
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        bindir = ""
    candidates = [Path(bindir) / "pg_verifybackup"] if bindir else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_verifybackup"), reverse=True)
    return str(next((c for c in candidates if c.exists()), "pg_verifybackup"))


@dataclass
class BackupsSnapshot(Snapshot):
    folder: str | None = None  # None: no backup folder configured
    backups: dict[str, tuple[datetime, Outcome]] = field(default_factory=dict)  # label -> (taken, verify)
    max_age_hours: float = 26.0


def fetch(ctx: FetchContext[PostgresConfig]) -> BackupsSnapshot:
    cfg = ctx.connection
    snap = BackupsSnapshot(
        target=ctx.target, observed_at=ctx.observed_at, max_age_hours=cfg.max_backup_age_hours
    )
    if not cfg.basebackup_dir:
        return snap
    folder = Path(cfg.basebackup_dir)
    snap.folder = str(folder)
    try:
        found = sorted(p for p in folder.iterdir() if (p / "backup_manifest").exists())
    except OSError as exc:
        denied = isinstance(exc, PermissionError)
        snap.fail(
            VERIFY,
            SourceError(
                code=type(exc).__name__,
                message=str(exc)[:300],
                operation=VERIFY.key,
                permission=VERIFY.permission if denied else None,
            ),
        )
        return snap
    tool = verifybackup()
    for path in found:
        taken = datetime.fromtimestamp((path / "backup_manifest").stat().st_mtime, UTC)
        argv = [tool, "--quiet", "-w", str(path / "pg_wal"), str(path)]
        outcome = ctx.recorder.command(
            VERIFY, argv, params={"backup": path.name}, env=dict(os.environ), timeout=3600
        )
        snap.backups[path.name] = (taken, outcome)
    return snap


SOURCE = POSTGRES.source("pgsql.basebackup", scope="server", description="pg_verifybackup on each backup")(
    fetch
)


@SOURCE.evidence_type(
    "pgsql.basebackup.verified",
    title="pg_basebackup backups verify against their manifest (pg_verifybackup)",
    api_calls=(VERIFY,),
    resource_kind="backup",
)
def verified(snap: BackupsSnapshot) -> list[Row]:
    """Each backup verifies; the newest is younger than the limit (a folder with none fails)."""
    if snap.folder is None:
        return []
    if not snap.backups:
        return [
            {
                "resource": snap.folder,
                "region": None,
                "status": "fail",
                "reason": "no backup in the folder",
                "backups": 0,
                "newest_label": None,
                "newest_age_hours": None,
                "verified": False,
                "message": "no backup_manifest found",
            }
        ]
    newest = max(snap.backups, key=lambda k: snap.backups[k][0])
    newest_age = round((snap.observed_at - snap.backups[newest][0]).total_seconds() / 3600, 2)
    rows: list[Row] = []
    for label, (_taken, outcome) in sorted(snap.backups.items()):
        ok = not isinstance(outcome, Failed)
        message = "verified against backup_manifest" if ok else outcome.error.message  # type: ignore[union-attr]
        status, reason = ("pass", message) if ok else ("fail", f"pg_verifybackup: {message}")
        if isinstance(outcome, Failed) and outcome.kind in ("unreachable", "access_denied", "unavailable"):
            status, reason = "error", f"could not verify: {message}"
        if ok and label == newest and newest_age > snap.max_age_hours:
            status, reason = (
                "fail",
                f"newest backup is {newest_age} h old, older than {snap.max_age_hours:g} h",
            )
        fields: dict[str, Any] = {
            "backups": len(snap.backups),
            "newest_label": newest,
            "newest_age_hours": newest_age,
            "verified": ok if status != "error" else None,
            "message": message,
        }
        rows.append({"resource": label, "region": None, "status": status, "reason": reason, **fields})
    return rows

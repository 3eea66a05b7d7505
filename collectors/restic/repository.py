"""restic.repository: one repository read once (snapshots, ``restic check``, ``cat config`` and the
raw config object), mapped into snapshot freshness, the check outcome and encryption."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.commands import check_rows
from collectors.core.family import FetchContext
from collectors.restic.family import RESTIC, ResticConfig
from evidence.registry import ApiPermission, Row

SNAPSHOTS = ApiPermission("restic", "snapshots", "repo:read")
CHECK = ApiPermission("restic", "check", "repo:read")
CONFIG = ApiPermission("restic", "cat config", "repo:read")


@dataclass
class RepositorySnapshot(Snapshot):
    repository: str = ""
    snapshots: list[dict[str, Any]] | None = None
    check: Outcome | None = None
    config: dict[str, Any] | None = None  # `restic cat config` (decrypted with the key)
    raw_config_plain: bool | None = None  # the stored config object parses as JSON without the key
    max_age_hours: float = 26.0


def fetch(ctx: FetchContext[ResticConfig]) -> RepositorySnapshot:
    cfg, repo = ctx.connection, ctx.target["repository"]
    env = cfg.environ(repo)
    snap = RepositorySnapshot(
        target=ctx.target,
        observed_at=ctx.observed_at,
        repository=repo,
        max_age_hours=cfg.max_snapshot_age_hours,
    )
    rec = ctx.recorder
    listed = rec.command(SNAPSHOTS, ["restic", "--no-lock", "snapshots", "--json"], env=env, timeout=300)
    if isinstance(listed, Failed):
        snap.fail(SNAPSHOTS, listed.error)
    else:
        assert isinstance(listed, Found)
        snap.snapshots = json.loads(listed.value or "[]") or []
    snap.check = rec.command(CHECK, ["restic", "--no-lock", "check"], env=env, timeout=3600)
    shown = rec.command(CONFIG, ["restic", "--no-lock", "cat", "config"], env=env, timeout=300)
    if isinstance(shown, Failed):
        snap.fail(CONFIG, shown.error)
    else:
        assert isinstance(shown, Found)
        snap.config = json.loads(shown.value)
        raw = Path(repo) / "config"
        if raw.exists():
            try:
                json.loads(raw.read_bytes())
                snap.raw_config_plain = True
            except ValueError:
                snap.raw_config_plain = False
    return snap


SOURCE = RESTIC.source("restic.repository", scope="repository", description="snapshots, check, config")(fetch)


def _row(snap: RepositorySnapshot, ok: bool, reason: str, **fields: Any) -> Row:
    return {
        "resource": snap.repository,
        "region": None,
        "status": "pass" if ok else "fail",
        "reason": reason,
        **fields,
    }


@SOURCE.evidence_type(
    "restic.repository.snapshots",
    title="restic holds a recent snapshot",
    api_calls=(SNAPSHOTS,),
    resource_kind="repository",
)
def snapshots(snap: RepositorySnapshot) -> list[Row]:
    """The newest snapshot is younger than the limit; an empty repository fails."""
    if snap.snapshots is None:
        return []
    fields: dict[str, Any] = {
        "snapshots": len(snap.snapshots),
        "newest_id": None,
        "newest_time": None,
        "newest_age_hours": None,
        "recent": False,
    }
    if not snap.snapshots:
        return [_row(snap, False, "the repository holds no snapshot", **fields)]
    newest = max(snap.snapshots, key=lambda s: s["time"])
    taken = datetime.fromisoformat(newest["time"].replace("Z", "+00:00"))
    age = round((snap.observed_at - taken).total_seconds() / 3600, 2)
    recent = age <= snap.max_age_hours
    fields.update(
        newest_id=newest.get("short_id"), newest_time=newest["time"], newest_age_hours=age, recent=recent
    )
    reason = f"newest snapshot {newest.get('short_id')} is {age} h old" + (
        "" if recent else f", older than {snap.max_age_hours:g} h"
    )
    return [_row(snap, recent, reason, **fields)]


@SOURCE.evidence_type(
    "restic.repository.check",
    title="restic check finds the repository sound",
    api_calls=(CHECK,),
    resource_kind="repository",
)
def check(snap: RepositorySnapshot) -> list[Row]:
    """`restic check` exits 0 (structure, index and packs consistent)."""
    return check_rows(snap.repository, snap.check, "no errors were found")


@SOURCE.evidence_type(
    "restic.repository.encryption",
    title="restic repository is encrypted (config unreadable without the key)",
    api_calls=(CONFIG,),
    resource_kind="repository",
)
def encryption(snap: RepositorySnapshot) -> list[Row]:
    """The key opens the config, and the stored config object is ciphertext, not readable JSON."""
    if snap.config is None:
        return []
    version = snap.config.get("version")
    encrypted = snap.raw_config_plain is not True
    reason = (
        "repository objects are encrypted (AES-256-CTR, Poly1305-AES); the key opens them"
        if encrypted
        else "the repository config is readable without the key"
    )
    return [_row(snap, encrypted, reason, repository_version=version, encrypted=encrypted)]

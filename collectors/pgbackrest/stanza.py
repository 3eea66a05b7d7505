"""pgbackrest.stanza: one stanza, read once (``info``, ``check``, the WAL archive listing, the
configuration file), mapped into check, backups, archive continuity, cipher and retention."""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.commands import check_rows
from collectors.core.family import FetchContext
from collectors.pgbackrest.family import PGBACKREST, PgBackRestConfig
from evidence.records import SourceError
from evidence.registry import ApiPermission, Row

COLLECTOR = "pgbackrest.stanza"
INFO = ApiPermission("pgbackrest", "info", "pgbackrest:info")
CHECK = ApiPermission("pgbackrest", "check", "pgbackrest:check")
REPO_LS = ApiPermission("pgbackrest", "repo-ls", "pgbackrest:repo_ls")
CONFIG = ApiPermission("pgbackrest", "read_config", "pgbackrest:read_config")
SEGMENTS_PER_LOG = 256  # 16 MB WAL segments: 00..FF per log file


@dataclass
class StanzaSnapshot(Snapshot):
    stanza: str = ""
    info: dict[str, Any] | None = None  # this stanza's entry of `pgbackrest info --output=json`
    check: Outcome | None = None
    archive_files: list[str] | None = None  # WAL segment names in the archive (all timelines)
    settings: dict[str, str] | None = None  # the configuration's options for this stanza (no secrets)
    max_age_hours: float = 26.0
    min_retention_full: int = 2


def _base(config: PgBackRestConfig, stanza: str) -> list[str]:
    argv = ["pgbackrest", f"--stanza={stanza}", "--log-level-console=warn"]
    return [argv[0], f"--config={config.config}", *argv[1:]] if config.config else argv


def read_settings(path: str, stanza: str) -> dict[str, str]:
    """The options of [global] overlaid with [stanza], passphrases left out."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    with open(path) as handle:
        parser.read_file(handle)
    merged: dict[str, str] = {}
    for section in ("global", stanza):
        if parser.has_section(section):
            merged.update(parser.items(section))
    return {k: v for k, v in merged.items() if "pass" not in k and "key" not in k}


def fetch(ctx: FetchContext[PgBackRestConfig]) -> StanzaSnapshot:
    config, stanza = ctx.connection, ctx.target["stanza"]
    snap = StanzaSnapshot(
        target=ctx.target,
        observed_at=ctx.observed_at,
        stanza=stanza,
        max_age_hours=config.max_backup_age_hours,
        min_retention_full=config.min_retention_full,
    )
    rec, base = ctx.recorder, _base(config, stanza)
    info = rec.command(INFO, [*base, "--output=json", "info"], params={"stanza": stanza}, user=config.user)
    if isinstance(info, Failed):
        snap.fail(INFO, info.error)
    else:
        assert isinstance(info, Found)
        entries = json.loads(info.value or "[]")
        snap.info = next((e for e in entries if e.get("name") == stanza), None)
        if snap.info is None or snap.info.get("status", {}).get("code") == 1:
            missing = SourceError(
                code="StanzaMissing", message=f"stanza {stanza} is not in the repository", operation=INFO.key
            )
            snap.fail(INFO, missing)
    snap.check = rec.command(
        CHECK, [*base, "check"], params={"stanza": stanza}, user=config.user, timeout=120
    )
    archive_ids = [a["id"] for a in (snap.info or {}).get("archive", []) if a.get("id")]
    files: list[str] = []
    for archive_id in archive_ids:
        listed = rec.command(
            REPO_LS,
            [*base, "--output=json", "--recurse", "repo-ls", f"archive/{stanza}/{archive_id}"],
            params={"path": f"archive/{stanza}/{archive_id}"},
            user=config.user,
        )
        if isinstance(listed, Failed):
            snap.fail(REPO_LS, listed.error)
            break
        assert isinstance(listed, Found)
        files.extend(name.rsplit("/", 1)[-1] for name in json.loads(listed.value or "{}"))
    snap.archive_files = files if REPO_LS.key not in snap.failures else None
    if config.config:
        try:
            snap.settings = read_settings(config.config, stanza)
            rec.record_read(CONFIG, config.config)
        except (OSError, configparser.Error) as exc:
            snap.fail(
                CONFIG,
                SourceError(
                    code=type(exc).__name__,
                    message=str(exc)[:300],
                    operation=CONFIG.key,
                    permission=CONFIG.permission,
                ),
            )
    else:
        snap.settings = {}
    return snap


SOURCE = PGBACKREST.source(COLLECTOR, scope="stanza", description="pgBackRest info, check, archive, config")(
    fetch
)


def _row(snapshot: StanzaSnapshot, ok: bool, reason: str, **fields: Any) -> Row:
    return {
        "resource": snapshot.stanza,
        "region": None,
        "status": "pass" if ok else "fail",
        "reason": reason,
        **fields,
    }


@SOURCE.evidence_type(
    "pgbackrest.stanza.check",
    title="pgBackRest stanza check passes (configuration, archiving, repository reachable)",
    api_calls=(CHECK,),
    resource_kind="stanza",
)
def check(snapshot: StanzaSnapshot) -> list[Row]:
    """`pgbackrest check`: the database archives WAL into the repository and backups can run."""
    return check_rows(snapshot.stanza, snapshot.check, "stanza check passed")


def _age_hours(snapshot: StanzaSnapshot, stop: int | None) -> float | None:
    if stop is None:
        return None
    return round((snapshot.observed_at - datetime.fromtimestamp(stop, UTC)).total_seconds() / 3600, 2)


@SOURCE.evidence_type(
    "pgbackrest.stanza.backups",
    title="pgBackRest holds a recent full backup set",
    api_calls=(INFO,),
    resource_kind="stanza",
)
def backups(snapshot: StanzaSnapshot) -> list[Row]:
    """The newest backup set (any type, on a chain from a full) is younger than the limit."""
    if snapshot.info is None:
        return []
    sets = snapshot.info.get("backup") or []
    fields: dict[str, Any] = {
        "backup_sets": len(sets),
        "newest_label": None,
        "newest_type": None,
        "newest_stop": None,
        "newest_age_hours": None,
        "newest_size_bytes": None,
        "recent": False,
    }
    if not sets:
        return [_row(snapshot, False, "no backup sets in the repository", **fields)]
    newest = sets[-1]
    stop = newest.get("timestamp", {}).get("stop")
    age = _age_hours(snapshot, stop)
    recent = age is not None and age <= snapshot.max_age_hours and not newest.get("error", False)
    fields.update(
        newest_label=newest.get("label"),
        newest_type=newest.get("type"),
        newest_stop=datetime.fromtimestamp(stop, UTC).isoformat() if stop else None,
        newest_age_hours=age,
        newest_size_bytes=newest.get("info", {}).get("size"),
        recent=recent,
    )
    reason = f"newest {newest.get('type')} backup {newest.get('label')} is {age} h old" + (
        "" if recent else f", older than {snapshot.max_age_hours:g} h"
    )
    return [_row(snapshot, recent, reason, **fields)]


def segment_number(name: str) -> tuple[str, int] | None:
    """``(timeline, position)`` of a WAL segment file name (``<24 hex>[-sha1][.ext]``)."""
    head = name[:24]
    if len(head) != 24 or any(c not in "0123456789ABCDEF" for c in head) or name[24:25] not in ("", "-", "."):
        return None
    if ".partial" in name or name.endswith(".backup") or ".history" in name:
        return None
    return head[:8], int(head[8:16], 16) * SEGMENTS_PER_LOG + int(head[16:24], 16)


def missing_segments(names: list[str]) -> int:
    """Segments absent between each timeline's first and last archived one."""
    by_timeline: dict[str, set[int]] = {}
    for name in names:
        parsed = segment_number(name)
        if parsed:
            by_timeline.setdefault(parsed[0], set()).add(parsed[1])
    return sum((max(s) - min(s) + 1) - len(s) for s in by_timeline.values() if s)


@SOURCE.evidence_type(
    "pgbackrest.stanza.archive",
    title="pgBackRest WAL archive is continuous from the oldest backup to now",
    api_calls=(INFO, REPO_LS),
    resource_kind="stanza",
)
def archive(snapshot: StanzaSnapshot) -> list[Row]:
    """No segment missing in the archive, and the archive reaches back to the oldest backup's start."""
    if snapshot.info is None or snapshot.archive_files is None:
        return []
    ranges = snapshot.info.get("archive") or []
    lows = [a["min"] for a in ranges if a.get("min")]
    highs = [a["max"] for a in ranges if a.get("max")]
    sets = snapshot.info.get("backup") or []
    starts = [b.get("archive", {}).get("start") for b in sets if b.get("archive", {}).get("start")]
    archive_min, archive_max = (min(lows) if lows else None), (max(highs) if highs else None)
    covers = bool(archive_min and starts and archive_min <= min(starts))
    gaps = missing_segments(snapshot.archive_files)
    continuous = covers and gaps == 0
    if not archive_min:
        reason = "the WAL archive is empty"
    elif gaps:
        reason = f"{gaps} WAL segment(s) missing between {archive_min} and {archive_max}"
    elif not covers:
        reason = "the archive does not reach back to the oldest backup's start"
    else:
        reason = f"continuous from {archive_min} to {archive_max}"
    return [
        _row(
            snapshot,
            continuous,
            reason,
            archive_min=archive_min,
            archive_max=archive_max,
            covers_backups=covers,
            missing_segments=gaps,
            continuous=continuous,
        )
    ]


@SOURCE.evidence_type(
    "pgbackrest.stanza.cipher",
    title="pgBackRest repository is encrypted",
    api_calls=(INFO,),
    resource_kind="stanza",
)
def cipher(snapshot: StanzaSnapshot) -> list[Row]:
    """The repository's cipher, as pgBackRest reports it (``none`` is in clear)."""
    if snapshot.info is None:
        return []
    repos = snapshot.info.get("repo") or []
    kinds = sorted({str(r.get("cipher", "none")) for r in repos}) or [
        str(snapshot.info.get("cipher", "none"))
    ]
    kind = ",".join(kinds)
    encrypted = "none" not in kinds
    reason = f"repository cipher {kind}" if encrypted else "repository stored in clear (cipher none)"
    return [_row(snapshot, encrypted, reason, cipher=kind, encrypted=encrypted)]


@SOURCE.evidence_type(
    "pgbackrest.stanza.retention",
    title="pgBackRest keeps enough full backups (retention configured)",
    api_calls=(CONFIG,),
    resource_kind="stanza",
)
def retention(snapshot: StanzaSnapshot) -> list[Row]:
    """``repo1-retention-full`` is set (count type) and at least the required minimum."""
    if snapshot.settings is None:
        return []
    raw = snapshot.settings.get("repo1-retention-full")
    kind = snapshot.settings.get("repo1-retention-full-type", "count")
    value = int(raw) if raw and raw.isdigit() else None
    minimum = snapshot.min_retention_full
    ok = value is not None and (kind != "count" or value >= minimum)
    if value is None:
        reason = "repo1-retention-full is not set: full backups expire only by hand"
    elif ok:
        reason = f"keeps {value} full backups ({kind})"
    else:
        reason = f"keeps {value} full backups, fewer than {minimum}"
    return [
        _row(
            snapshot,
            ok,
            reason,
            retention_full=value,
            retention_full_type=kind,
            minimum=minimum,
            sufficient=ok,
        )
    ]

"""vault.kv: KV v2 secret metadata (versions, created and updated times), never a secret's value.

For every KV v2 mount (or the configured ones), the metadata tree is walked with ``LIST
<mount>/metadata/<folder>`` and each secret's ``GET <mount>/metadata/<path>`` is read (bounded
fan-out). The ``<mount>/data/`` endpoints, the only ones that return values, are never called, and the
generated policy does not grant them: the collector cannot read a value even by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from collectors.vault.family import VAULT, VaultConnection
from collectors.vault.sys import MOUNTS, age_days, exact_age_days
from evidence.registry import ApiPermission, Row

COLLECTOR = "vault.kv"

LIST_METADATA = ApiPermission("kv", "LIST /v1/{mount}/metadata/{folder}", "+/metadata/*:list", ("404",))
READ_METADATA = ApiPermission("kv", "GET /v1/{mount}/metadata/{path}", "+/metadata/*:read", ("404",))
MAX_DEPTH = 32  # folders deeper than this are not walked (a guard against a cycle-like layout)


@dataclass
class KvSnapshot(Snapshot):
    mounts: list[str] = field(default_factory=list)
    secrets: dict[str, Outcome] = field(default_factory=dict)  # "<mount><path>" -> its metadata
    unlisted: dict[str, Failed] = field(default_factory=dict)  # folder that could not be listed
    secret_max_age_days: float = 90.0


def kv2_mounts(mounts: dict[str, Any], only: tuple[str, ...]) -> list[str]:
    data = mounts.get("data") if isinstance(mounts.get("data"), dict) else mounts
    found = [
        path
        for path, mount in sorted((data or {}).items())
        if isinstance(mount, dict)
        and mount.get("type") == "kv"
        and str((mount.get("options") or {}).get("version")) == "2"
    ]
    return [m for m in found if not only or m in only]


def fetch(ctx: FetchContext[VaultConnection]) -> KvSnapshot:
    conn = ctx.connection
    client, call = conn.client, ctx.recorder.call
    snapshot = KvSnapshot(
        target=ctx.target, observed_at=ctx.observed_at, secret_max_age_days=conn.config.secret_max_age_days
    )
    mounts = call(client, MOUNTS, "sys/mounts")
    if isinstance(mounts, Failed):
        snapshot.fail(MOUNTS, mounts.error)
        return snapshot
    snapshot.mounts = kv2_mounts(mounts.value if isinstance(mounts, Found) else {}, conn.config.kv_mounts)
    # Walk each mount's folders level by level; a level's listings run in parallel.
    folders = [(m, "") for m in snapshot.mounts]
    paths: list[str] = []
    listings: list[Outcome] = []
    depth = 0
    while folders and depth < MAX_DEPTH:
        answers = fan_out(
            lambda f: call(client, LIST_METADATA, f"{f[0]}metadata/{f[1]}", "LIST"), folders, ctx.concurrency
        )
        listings += answers
        next_level = []
        for (mount, folder), answer in zip(folders, answers, strict=True):
            if isinstance(answer, Failed):
                snapshot.unlisted[f"{mount}{folder}"] = answer
                continue
            if not isinstance(answer, Found):
                continue  # 404: an empty mount or folder
            for key in (answer.value.get("data") or {}).get("keys") or []:
                if str(key).endswith("/"):
                    next_level.append((mount, f"{folder}{key}"))
                else:
                    paths.append(f"{mount}{folder}{key}")
        folders, depth = next_level, depth + 1
    snapshot.fail_if_uniform(LIST_METADATA, listings)

    def read(full: str) -> Outcome:
        mount = next(m for m in snapshot.mounts if full.startswith(m))
        outcome: Outcome = call(client, READ_METADATA, f"{mount}metadata/{full[len(mount) :]}")
        return outcome

    answers = fan_out(read, paths, ctx.concurrency)
    snapshot.secrets = dict(zip(paths, answers, strict=True))
    snapshot.fail_if_uniform(READ_METADATA, answers)
    return snapshot


SOURCE = VAULT.source(COLLECTOR, scope="target", description="KV v2 secret metadata")(fetch)


def _split(resource: str, mounts: list[str]) -> tuple[str | None, str]:
    mount = next((m for m in sorted(mounts, key=len, reverse=True) if resource.startswith(m)), None)
    return mount, resource[len(mount) :] if mount else resource


@SOURCE.evidence_type(
    "vault.kv.secret_metadata",
    title="KV v2 secrets were updated (rotated) within the allowed age (metadata only, never values)",
    api_calls=(MOUNTS, LIST_METADATA, READ_METADATA),
    resource_kind="secret",
)
def secret_metadata(snapshot: KvSnapshot) -> list[Row]:
    rows: list[Row] = []
    allowed = float(snapshot.secret_max_age_days)
    empty: dict[str, Any] = {
        "current_version": None,
        "versions": None,
        "created_time": None,
        "updated_time": None,
        "age_days": None,
        "allowed_age_days": allowed,
        "within_age": None,
    }
    for folder, failure in sorted(snapshot.unlisted.items()):
        mount, path = _split(folder, snapshot.mounts)
        rows.append(
            {
                "resource": folder,
                "region": None,
                "status": "error",
                "reason": "folder " + failed_reason(failure),
                "mount": mount,
                "path": path,
                **empty,
            }
        )
    for resource, outcome in sorted(snapshot.secrets.items()):
        mount, path = _split(resource, snapshot.mounts)
        base = {"resource": resource, "region": None, "mount": mount, "path": path}
        if isinstance(outcome, Failed):
            rows.append({**base, "status": "error", "reason": failed_reason(outcome), **empty})
            continue
        if isinstance(outcome, Absent):
            continue  # deleted between the listing and the read
        data = (outcome.value.get("data") or {}) if isinstance(outcome, Found) else {}
        versions = data.get("versions") or {}
        live = [
            v
            for v in versions.values()
            if not (v or {}).get("destroyed") and not (v or {}).get("deletion_time")
        ]
        updated = as_utc(data.get("updated_time"))
        age = age_days(updated, snapshot.observed_at)
        fields = {
            "current_version": data.get("current_version"),
            "versions": len(versions),
            "created_time": iso(data.get("created_time")),
            "updated_time": iso(updated),
            "age_days": age,
            "allowed_age_days": allowed,
            "within_age": None if age is None else exact_age_days(updated, snapshot.observed_at) <= allowed,  # type: ignore[operator]
        }
        if age is None:
            status, reason = "error", "the metadata has no readable updated_time"
        elif not live:
            status, reason = "not_applicable", "every version is deleted or destroyed"
            fields["within_age"] = True
        elif fields["within_age"]:
            status, reason = (
                "pass",
                f"version {fields['current_version']} written {age:.1f} days ago (limit {allowed:g})",
            )
        else:
            status = "fail"
            reason = (
                f"not rotated for {age:.1f} days (limit {allowed:g}): version {fields['current_version']}"
            )
        rows.append({**base, "status": status, "reason": reason, **fields})
    return rows

"""vault.sys: the server's own configuration, read once per unit from the ``sys/`` API.

Seal status and HA/leader state (raft peers and automated snapshots where raft is the storage), audit
devices, auth methods with their effective lease TTLs (``sys/mounts/auth/<path>/tune``), secret engines
(KV versions), ACL policies (each one's rules parsed for root-like grants) and the barrier key's term
and install time. Each evidence type is a pure mapping of the snapshot; a call that is denied makes the
types that need it ``error`` records naming the Vault path and capability.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from collectors.vault.family import VAULT, VaultConnection
from evidence.registry import ApiPermission, Row

COLLECTOR = "vault.sys"

SEAL_STATUS = ApiPermission("sys", "GET /v1/sys/seal-status", "sys/seal-status:read")
LEADER = ApiPermission("sys", "GET /v1/sys/leader", "sys/leader:read")
RAFT_CONFIG = ApiPermission(
    "sys", "GET /v1/sys/storage/raft/configuration", "sys/storage/raft/configuration:read", ("404",)
).optional()
RAFT_SNAPSHOTS = ApiPermission(
    "sys",
    "GET /v1/sys/storage/raft/snapshot-auto/config",
    "sys/storage/raft/snapshot-auto/config:list",
    ("404",),
).optional()
RAFT_AUTOPILOT = ApiPermission(
    "sys",
    "GET /v1/sys/storage/raft/autopilot/state",
    "sys/storage/raft/autopilot/state:read",
    ("404",),
).optional()
AUDIT = ApiPermission("sys", "GET /v1/sys/audit", "sys/audit:read,sudo")
AUTH = ApiPermission("sys", "GET /v1/sys/auth", "sys/auth:read")
AUTH_TUNE = ApiPermission("sys", "GET /v1/sys/mounts/auth/{path}/tune", "sys/mounts/auth/*:read")
MOUNTS = ApiPermission("sys", "GET /v1/sys/mounts", "sys/mounts:read")
POLICIES = ApiPermission("sys", "LIST /v1/sys/policies/acl", "sys/policies/acl:list")
POLICY = ApiPermission("sys", "GET /v1/sys/policies/acl/{name}", "sys/policies/acl/*:read")
KEY_STATUS = ApiPermission("sys", "GET /v1/sys/key-status", "sys/key-status:read")

# Engines Vault mounts itself; they hold no application secrets.
SYSTEM_ENGINES = frozenset({"system", "identity", "cubbyhole", "ns_system", "ns_identity", "ns_cubbyhole"})
WRITE_CAPABILITIES = frozenset({"create", "update", "patch", "delete", "sudo"})
# Paths that cover Vault's own configuration (or everything) when a policy grants them.
BROAD_PATHS = frozenset({"*", "+/*", "sys", "sys*", "sys/*", "sys/+/*"})


@dataclass
class SysSnapshot(Snapshot):
    address: str = ""
    health: dict[str, Any] = field(default_factory=dict)
    seal: Outcome | None = None
    leader: Outcome | None = None
    raft: Outcome | None = None
    raft_snapshots: Outcome | None = None
    autopilot: Outcome | None = None
    audit: Outcome | None = None
    auth: Outcome | None = None
    tunes: dict[str, Outcome] = field(default_factory=dict)  # auth path -> its tune
    mounts: Outcome | None = None
    policies: dict[str, Outcome] = field(default_factory=dict)  # policy name -> its rules
    key_status: Outcome | None = None
    max_lease_ttl_s: int = 24 * 3600
    key_max_age_days: float = 365.0


def _data(outcome: Outcome | None) -> dict[str, Any]:
    """The answer's ``data`` (Vault wraps most answers; sys/health and sys/leader are bare)."""
    if not isinstance(outcome, Found) or not isinstance(outcome.value, dict):
        return {}
    inner = outcome.value.get("data")
    return inner if isinstance(inner, dict) else outcome.value


def fetch(ctx: FetchContext[VaultConnection]) -> SysSnapshot:
    conn = ctx.connection
    client, call = conn.client, ctx.recorder.call
    snapshot = SysSnapshot(
        target=ctx.target,
        observed_at=ctx.observed_at,
        address=conn.config.url,
        health=conn.health,
        max_lease_ttl_s=int(conn.config.max_lease_ttl_hours * 3600),
        key_max_age_days=conn.config.key_max_age_days,
    )

    def single(api: ApiPermission, path: str, method: str = "GET") -> Outcome:
        outcome: Outcome = call(client, api, path, method)
        if isinstance(outcome, Failed):
            snapshot.fail(api, outcome.error)
        return outcome

    snapshot.seal = single(SEAL_STATUS, "sys/seal-status")
    snapshot.leader = single(LEADER, "sys/leader")
    if _data(snapshot.seal).get("storage_type") == "raft":
        snapshot.raft = single(RAFT_CONFIG, "sys/storage/raft/configuration")
        snapshot.raft_snapshots = single(RAFT_SNAPSHOTS, "sys/storage/raft/snapshot-auto/config", "LIST")
        snapshot.autopilot = single(RAFT_AUTOPILOT, "sys/storage/raft/autopilot/state")
    snapshot.audit = single(AUDIT, "sys/audit")
    snapshot.auth = single(AUTH, "sys/auth")
    auth_paths = sorted(_data(snapshot.auth))
    tunes = fan_out(
        lambda p: call(client, AUTH_TUNE, f"sys/mounts/auth/{p.rstrip('/')}/tune"),
        auth_paths,
        ctx.concurrency,
    )
    snapshot.tunes = dict(zip(auth_paths, tunes, strict=True))
    snapshot.fail_if_uniform(AUTH_TUNE, tunes)
    snapshot.mounts = single(MOUNTS, "sys/mounts")
    listing = single(POLICIES, "sys/policies/acl", "LIST")
    names = [str(n) for n in _data(listing).get("keys") or [] if n != "root"]  # root: built in, no rules
    rules = fan_out(lambda n: call(client, POLICY, f"sys/policies/acl/{n}"), names, ctx.concurrency)
    snapshot.policies = dict(zip(names, rules, strict=True))
    snapshot.fail_if_uniform(POLICY, rules)
    snapshot.key_status = single(KEY_STATUS, "sys/key-status")
    return snapshot


SOURCE = VAULT.source(COLLECTOR, scope="target", description="Vault's sys/ configuration")(fetch)


def _server(snapshot: SysSnapshot) -> str:
    return snapshot.target.get("cluster") or snapshot.address or "vault"


# ---------------------------------------------------------------------------------------------------
# Pure mappings.


@SOURCE.evidence_type(
    "vault.sys.health",
    title="Vault is initialised, unsealed and answering",
    api_calls=(SEAL_STATUS,),
    resource_kind="server",
)
def health(snapshot: SysSnapshot) -> list[Row]:
    seal = _data(snapshot.seal)
    fields: dict[str, Any] = {
        "sealed": seal.get("sealed"),
        "initialized": seal.get("initialized"),
        "standby": snapshot.health.get("standby"),
        "version": seal.get("version") or snapshot.health.get("version"),
        "storage_type": seal.get("storage_type"),
    }
    if fields["sealed"] is False and fields["initialized"] is True:
        status, reason = (
            "pass",
            f"initialised and unsealed (version {fields['version']}, {fields['storage_type']} storage)",
        )
    else:
        status, reason = "fail", f"sealed={fields['sealed']}, initialized={fields['initialized']}"
    return [{"resource": _server(snapshot), "region": None, "status": status, "reason": reason, **fields}]


@SOURCE.evidence_type(
    "vault.sys.ha",
    title="Vault runs highly available (HA with a leader; raft peers and snapshots where raft is used)",
    api_calls=(LEADER, SEAL_STATUS, RAFT_CONFIG, RAFT_SNAPSHOTS, RAFT_AUTOPILOT),
    resource_kind="server",
)
def ha(snapshot: SysSnapshot) -> list[Row]:
    leader = _data(snapshot.leader)
    storage = _data(snapshot.seal).get("storage_type")
    voters: int | None = None
    if isinstance(snapshot.raft, Found):
        servers = (_data(snapshot.raft).get("config") or {}).get("servers") or []
        voters = sum(1 for s in servers if s.get("voter", True))
    auto: bool | None = None
    if isinstance(snapshot.raft_snapshots, Found):
        auto = bool(_data(snapshot.raft_snapshots).get("keys"))
    elif isinstance(snapshot.raft_snapshots, Absent):
        auto = False
    # Autopilot's view (raft): how many voters may fail with quorum kept, and which servers are not
    # healthy (out of contact, behind, or a joined node not yet promoted to voter).
    tolerance: int | None = None
    unhealthy: list[str] | None = None
    if isinstance(snapshot.autopilot, Found):
        state = _data(snapshot.autopilot)
        if isinstance(state.get("failure_tolerance"), int):
            tolerance = state["failure_tolerance"]
        members = state.get("servers") or {}
        unhealthy = sorted(
            str(node.get("id") or name)
            for name, node in members.items()
            if isinstance(node, dict) and node.get("healthy") is False
        )
    fields: dict[str, Any] = {
        "ha_enabled": leader.get("ha_enabled"),
        "leader_address": leader.get("leader_address") or None,
        "is_self": leader.get("is_self"),
        "storage_type": storage,
        "raft_voters": voters,
        "auto_snapshot_configured": auto,
        "failure_tolerance": tolerance,
        "unhealthy_servers": unhealthy,
    }
    if fields["ha_enabled"] is not True:
        status, reason = "fail", f"HA not enabled: a single {storage} node, no standby to take over"
    elif storage == "raft" and voters is not None and voters < 3:
        status, reason = "fail", f"raft cluster of {voters} voter(s) does not survive the loss of a node"
    elif unhealthy:
        status = "fail"
        reason = (
            f"raft server(s) {', '.join(unhealthy)} not healthy (autopilot): out of contact or not voting"
        )
    elif tolerance is not None and tolerance < 1:
        status, reason = "fail", "raft cluster tolerates no server failure (autopilot failure tolerance 0)"
    else:
        status = "pass"
        reason = f"HA enabled, leader {fields['leader_address']}"
        if storage == "raft":
            reason += f", {voters} raft voters"
            if tolerance is not None:
                reason += f" (tolerates {tolerance} failure{'s' if tolerance != 1 else ''})"
            reason += f", automated snapshots {'on' if auto else 'not configured'}"
    return [{"resource": _server(snapshot), "region": None, "status": status, "reason": reason, **fields}]


@SOURCE.evidence_type(
    "vault.sys.audit_devices",
    title="Vault audit logging is enabled (at least one audit device)",
    api_calls=(AUDIT,),
    resource_kind="audit device",
)
def audit_devices(snapshot: SysSnapshot) -> list[Row]:
    devices = _data(snapshot.audit)
    if not devices:
        return [
            {
                "resource": f"{_server(snapshot)}:audit",
                "region": None,
                "status": "fail",
                "reason": "no audit device enabled: requests to Vault are not logged",
                "path": None,
                "type": None,
                "enabled": False,
                "options_file_path": None,
            }
        ]
    rows: list[Row] = []
    for path, device in sorted(devices.items()):
        if not isinstance(device, dict):
            continue
        options = device.get("options") or {}
        rows.append(
            {
                "resource": path,
                "region": None,
                "status": "pass",
                "reason": f"{device.get('type')} audit device enabled at {path}",
                "path": path,
                "type": device.get("type"),
                "enabled": True,
                "options_file_path": options.get("file_path"),
            }
        )
    return rows


@SOURCE.evidence_type(
    "vault.sys.auth_methods",
    title="Vault auth methods issue tokens with bounded lease TTLs",
    api_calls=(AUTH, AUTH_TUNE),
    resource_kind="auth method",
)
def auth_methods(snapshot: SysSnapshot) -> list[Row]:
    rows: list[Row] = []
    allowed = snapshot.max_lease_ttl_s
    for path, method in sorted(_data(snapshot.auth).items()):
        if not isinstance(method, dict):
            continue
        tune = snapshot.tunes.get(path)
        fields: dict[str, Any] = {
            "path": path,
            "type": method.get("type"),
            "default_lease_ttl_s": None,
            "max_lease_ttl_s": None,
            "allowed_max_ttl_s": allowed,
            "ttl_within_limit": None,
        }
        if isinstance(tune, Failed):
            rows.append(
                {"resource": path, "region": None, "status": "error", "reason": failed_reason(tune), **fields}
            )
            continue
        effective = _data(tune)
        fields["default_lease_ttl_s"] = effective.get("default_lease_ttl")
        fields["max_lease_ttl_s"] = effective.get("max_lease_ttl")
        max_ttl = fields["max_lease_ttl_s"]
        if not isinstance(max_ttl, int):
            rows.append(
                {
                    "resource": path,
                    "region": None,
                    "status": "error",
                    "reason": "no effective max TTL in the tune answer",
                    **fields,
                }
            )
            continue
        fields["ttl_within_limit"] = max_ttl <= allowed
        hours = max_ttl / 3600
        if fields["ttl_within_limit"]:
            status, reason = "pass", f"tokens live at most {hours:g} h (limit {allowed / 3600:g} h)"
        else:
            status, reason = "fail", f"tokens may live {hours:g} h, over the {allowed / 3600:g} h limit"
        rows.append({"resource": path, "region": None, "status": status, "reason": reason, **fields})
    return rows


@SOURCE.evidence_type(
    "vault.sys.secret_engines",
    title="Vault secret engines: KV mounts are version 2 (versioned, with metadata)",
    api_calls=(MOUNTS,),
    resource_kind="secret engine",
)
def secret_engines(snapshot: SysSnapshot) -> list[Row]:
    rows: list[Row] = []
    for path, mount in sorted(_data(snapshot.mounts).items()):
        if not isinstance(mount, dict) or mount.get("type") in SYSTEM_ENGINES:
            continue
        engine = str(mount.get("type"))
        options = mount.get("options") or {}
        if engine not in ("kv", "generic"):
            continue
        version = int(options.get("version") or 1)
        versioned = version >= 2
        reason = (
            "KV version 2: every write is a version with its own metadata"
            if versioned
            else "KV version 1: no versions, no metadata (no rotation history, no undelete)"
        )
        rows.append(
            {
                "resource": path,
                "region": None,
                "status": "pass" if versioned else "fail",
                "reason": reason,
                "path": path,
                "type": engine,
                "kv_version": version,
                "versioned": versioned,
            }
        )
    if not rows and isinstance(snapshot.mounts, Found):
        rows.append(
            {
                "resource": f"{_server(snapshot)}:kv",
                "region": None,
                "status": "fail",
                "reason": "no KV secrets engine mounted: application secrets are not kept in this Vault",
                "path": None,
                "type": None,
                "kv_version": None,
                "versioned": False,
            }
        )
    return rows


def policy_rules(text: str) -> dict[str, set[str]]:
    """Path -> capabilities of a policy written in HCL or JSON (a small reader: the ``path`` blocks
    and their ``capabilities`` lists; nested blocks such as ``allowed_parameters`` are skipped)."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("path"), dict):
        return {
            str(p): {str(c) for c in (body or {}).get("capabilities") or []}
            for p, body in doc["path"].items()
        }
    text = re.sub(r"(?m)#.*$|//.*$", "", text)
    rules: dict[str, set[str]] = {}
    for match in re.finditer(r'path\s+"([^"]*)"\s*\{', text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[match.end() : i - 1]
        body = re.sub(r"\{[^{}]*\}", "", body)  # nested blocks
        caps = re.search(r"capabilities\s*=\s*\[([^\]]*)\]", body)
        found = set(re.findall(r'"([^"]+)"', caps.group(1))) if caps else set()
        rules.setdefault(match.group(1), set()).update(found)
    return rules


def root_like_findings(rules: dict[str, set[str]]) -> list[str]:
    findings = []
    for path, caps in sorted(rules.items()):
        if "deny" in caps:
            continue
        risky = sorted(caps & WRITE_CAPABILITIES)
        if path in BROAD_PATHS and risky:
            findings.append(f'{"/".join(risky)} on "{path}"')
        elif "sudo" in caps and path.endswith("*"):
            findings.append(f'sudo on the glob "{path}"')
    return findings


@SOURCE.evidence_type(
    "vault.sys.acl_policies",
    title="Vault ACL policies grant no root-like access (no sudo or * on sys/*, no * on every path)",
    api_calls=(POLICIES, POLICY),
    resource_kind="policy",
)
def acl_policies(snapshot: SysSnapshot) -> list[Row]:
    rows: list[Row] = []
    for name, outcome in sorted(snapshot.policies.items()):
        fields: dict[str, Any] = {"name": name, "paths": None, "root_like": None, "findings": None}
        if isinstance(outcome, Failed):
            rows.append(
                {
                    "resource": name,
                    "region": None,
                    "status": "error",
                    "reason": failed_reason(outcome),
                    **fields,
                }
            )
            continue
        data = _data(outcome)
        rules = policy_rules(str(data.get("policy") or data.get("rules") or ""))
        findings = root_like_findings(rules)
        fields.update(paths=len(rules), root_like=bool(findings), findings="; ".join(findings) or None)
        if findings:
            status, reason = "fail", "root-like grants: " + "; ".join(findings)
        else:
            status, reason = "pass", f"{len(rules)} path rules, none root-like"
        rows.append({"resource": name, "region": None, "status": status, "reason": reason, **fields})
    return rows


def age_days(since: datetime | None, observed_at: datetime) -> float | None:
    """The age shown in a row (rounded to 4 decimals, about 9 s)."""
    exact = exact_age_days(since, observed_at)
    return None if exact is None else round(exact, 4)


def exact_age_days(since: datetime | None, observed_at: datetime) -> float | None:
    """The age a limit is judged on: never the rounded one (a key 3 s old is not 0 days old)."""
    return None if since is None else (observed_at - since).total_seconds() / 86400


@SOURCE.evidence_type(
    "vault.sys.key_status",
    title="Vault's barrier encryption key was rotated within the allowed age",
    api_calls=(KEY_STATUS,),
    resource_kind="encryption key",
)
def key_status(snapshot: SysSnapshot) -> list[Row]:
    data = _data(snapshot.key_status)
    if not data:
        return []
    installed = as_utc(data.get("install_time"))
    age = age_days(installed, snapshot.observed_at)
    allowed = snapshot.key_max_age_days
    fields: dict[str, Any] = {
        "term": data.get("term"),
        "install_time": iso(installed),
        "age_days": age,
        "allowed_age_days": float(allowed),
        "within_age": None if age is None else exact_age_days(installed, snapshot.observed_at) <= allowed,  # type: ignore[operator]
    }
    if age is None:
        status, reason = "error", "the key status has no readable install time"
    elif fields["within_age"]:
        status, reason = "pass", f"key term {fields['term']} installed {age:.1f} days ago (limit {allowed:g})"
    else:
        status, reason = (
            "fail",
            f"key term {fields['term']} is {age:.1f} days old, over the {allowed:g}-day limit: rotate it",
        )
    return [
        {
            "resource": f"{_server(snapshot)}:barrier-key",
            "region": None,
            "status": status,
            "reason": reason,
            **fields,
        }
    ]

"""redis.server: one Redis server's configuration and state, read once per unit.

``fetch`` reads a fixed list of non-secret ``CONFIG GET`` parameters (never ``CONFIG GET *``, which
would return ``requirepass`` and ``masterauth``), ``INFO persistence`` / ``memory`` / ``server``,
``COMMAND INFO`` for the dangerous commands (a renamed-away command answers nil), and probes whether
a client without credentials is served. No key or value is ever read. Each evidence type below is a
pure function of the snapshot, fed recorded answers in the unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from collectors.redis.family import PING, REDIS, RedisServer
from evidence.registry import ApiPermission, Row

COLLECTOR = "redis.server"

CONFIG_GET = ApiPermission("redis", "CONFIG GET", "+config|get")
INFO = ApiPermission("redis", "INFO", "+info")
COMMAND_INFO = ApiPermission("redis", "COMMAND INFO", "+command|info").optional()
# A second connection without credentials: is an anonymous client served? (AUTH needs no rule.)
ANONYMOUS_PING = ApiPermission("redis", "PING (no credentials)", "+ping")

# The only parameters read: none of them holds a secret (requirepass, masterauth, tls-key-file-pass
# are never asked for; tests/unit/test_redis_server.py keeps it so).
PARAMETERS = (
    "save",
    "appendonly",
    "appendfsync",
    "maxmemory",
    "maxmemory-policy",
    "protected-mode",
    "bind",
    "port",
    "tls-port",
)
INFO_SECTIONS = ("persistence", "memory", "server")
# Commands that wipe or stall a server or leak its contents; the CIS Redis benchmark asks that they
# be renamed away or denied by ACL.
DANGEROUS_COMMANDS = ("FLUSHALL", "FLUSHDB", "DEBUG", "KEYS", "SHUTDOWN", "MONITOR", "MODULE", "SAVE")
EVICTING_POLICIES = (
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass
class ServerSnapshot(Snapshot):
    server: str = ""
    config: dict[str, str | None] = field(default_factory=dict)  # parameter -> value (None: not known)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> fields
    anonymous: Outcome | None = None  # Found(True): an anonymous client is served
    commands: Outcome | None = None  # Found({command: available under its name})
    tls: bool = False  # the collector itself reached the server over TLS
    accepted_policies: tuple[str, ...] = ()


def _pairs(reply: Any) -> dict[str, Any]:
    """CONFIG GET's answer as a mapping (RESP2 gives a flat list of names and values)."""
    if isinstance(reply, dict):
        return reply
    items = list(reply or [])
    return dict(zip(items[::2], items[1::2], strict=False))


def _anonymous(ctx: FetchContext[RedisServer]) -> Outcome:
    server = ctx.connection
    if not server.authenticated:
        return Found(True)  # the collector itself was served without credentials
    client = server.anonymous_client()
    try:
        outcome = ctx.recorder.call(client, ANONYMOUS_PING, "PING")
    finally:
        client.close()
    if isinstance(outcome, Failed) and outcome.error.code == "NOAUTH":
        return Found(False)
    if isinstance(outcome, Found):
        return Found(True)
    result: Outcome = outcome
    return result


def fetch(ctx: FetchContext[RedisServer]) -> ServerSnapshot:
    server = ctx.connection
    snapshot = ServerSnapshot(
        target=ctx.target,
        observed_at=ctx.observed_at,
        server=server.name,
        tls=server.tls,
        accepted_policies=server.config.accepted_policies,
    )
    client = server.client
    try:
        outcomes = []
        for name in PARAMETERS:
            outcome = ctx.recorder.call(client, CONFIG_GET, "CONFIG", "GET", name)
            outcomes.append(outcome)
            if isinstance(outcome, Found):
                snapshot.config[name] = _pairs(outcome.value).get(name)
        snapshot.fail_if_uniform(CONFIG_GET, outcomes)
        infos = []
        for section in INFO_SECTIONS:
            outcome = ctx.recorder.call(client, INFO, "INFO", section)
            infos.append(outcome)
            if isinstance(outcome, Found):
                snapshot.info[section] = dict(outcome.value or {})
        snapshot.fail_if_uniform(INFO, infos)
        commands = ctx.recorder.call(client, COMMAND_INFO, "COMMAND", "INFO", *DANGEROUS_COMMANDS)
        if isinstance(commands, Found):
            replies = list(commands.value or [])
            snapshot.commands = Found(
                {name: bool(reply) for name, reply in zip(DANGEROUS_COMMANDS, replies, strict=False)}
            )
        else:
            snapshot.commands = commands
        snapshot.anonymous = _anonymous(ctx)
    finally:
        client.close()
    return snapshot


SOURCE = REDIS.source(COLLECTOR, scope="server", description="a Redis server's CONFIG and INFO")(fetch)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _row(snapshot: ServerSnapshot, status: str, reason: str, **fields: Any) -> Row:
    return {"resource": snapshot.server, "region": None, "status": status, "reason": reason, **fields}


def _unread(snapshot: ServerSnapshot, needed: list[str], **nulls: Any) -> Row | None:
    """An error row when a parameter the check needs was not answered (a partial CONFIG denial)."""
    missing = [n for n in needed if n not in snapshot.config]
    if not missing:
        return None
    return _row(snapshot, "error", f"could not read CONFIG {', '.join(missing)}", **nulls)


@SOURCE.evidence_type(
    "redis.server.persistence",
    title="Redis persists its data (RDB snapshots or AOF) and its last save and AOF rewrite succeeded",
    api_calls=(CONFIG_GET, INFO),
    resource_kind="Redis server",
)
def persistence(snapshot: ServerSnapshot) -> list[Row]:
    """RDB (a ``save`` policy) or AOF (``appendonly yes``) must be on, and the last background save,
    AOF rewrite and AOF write must have succeeded: a failing save is data that will not come back."""
    nulls: dict[str, Any] = dict.fromkeys(
        (
            "persistent",
            "rdb_enabled",
            "rdb_save_policy",
            "aof_enabled",
            "aof_fsync",
            "last_save_time",
            "last_save_age_hours",
            "last_bgsave_status",
            "aof_rewrite_status",
            "aof_write_status",
            "changes_since_last_save",
        )
    )
    unread = _unread(snapshot, ["save", "appendonly"], **nulls)
    if unread:
        return [unread]
    info = snapshot.info.get("persistence", {})
    save_policy = (snapshot.config.get("save") or "").strip()
    rdb, aof = bool(save_policy), snapshot.config.get("appendonly") == "yes"
    last_save: datetime | None = as_utc(_int(info.get("rdb_last_save_time")))
    age = (snapshot.observed_at - last_save).total_seconds() / 3600 if last_save else None
    fields = {
        "rdb_enabled": rdb,
        "rdb_save_policy": save_policy or None,
        "aof_enabled": aof,
        "aof_fsync": snapshot.config.get("appendfsync") if aof else None,
        "last_save_time": iso(last_save),
        "last_save_age_hours": round(age, 2) if age is not None else None,
        "last_bgsave_status": info.get("rdb_last_bgsave_status"),
        "aof_rewrite_status": info.get("aof_last_bgrewrite_status"),
        "aof_write_status": info.get("aof_last_write_status"),
        "changes_since_last_save": _int(info.get("rdb_changes_since_last_save")),
    }
    problems = []
    if not rdb and not aof:
        problems.append("no persistence: RDB save policy empty and appendonly no (a restart loses every key)")
    if rdb and fields["last_bgsave_status"] not in (None, "ok"):
        problems.append(f"last RDB save {fields['last_bgsave_status']}")
    if aof and fields["aof_rewrite_status"] not in (None, "ok"):
        problems.append(f"last AOF rewrite {fields['aof_rewrite_status']}")
    if aof and fields["aof_write_status"] not in (None, "ok"):
        problems.append(f"last AOF write {fields['aof_write_status']}")
    if not info:
        problems.append("INFO persistence not read")
    if problems:
        return [_row(snapshot, "fail", "; ".join(problems), persistent=False, **fields)]
    how = " and ".join(
        [f"RDB (save {save_policy})"] * rdb + [f"AOF (appendfsync {fields['aof_fsync']})"] * aof
    )
    when = f"; last save {fields['last_save_age_hours']} h ago" if rdb and age is not None else ""
    return [_row(snapshot, "pass", f"persisted by {how}{when}", persistent=True, **fields)]


@SOURCE.evidence_type(
    "redis.server.memory_limit",
    title="Redis has a memory limit (maxmemory)",
    api_calls=(CONFIG_GET, INFO.optional()),
    resource_kind="Redis server",
)
def memory_limit(snapshot: ServerSnapshot) -> list[Row]:
    """``maxmemory 0`` means no limit: the kernel's OOM killer decides, with every key in memory."""
    nulls = dict.fromkeys(("memory_limited", "maxmemory", "used_memory", "used_memory_percent"))
    unread = _unread(snapshot, ["maxmemory"], **nulls)
    if unread:
        return [unread]
    limit = _int(snapshot.config.get("maxmemory"))
    used = _int(snapshot.info.get("memory", {}).get("used_memory"))
    percent = round(100 * used / limit, 2) if used is not None and limit else None
    fields = {"maxmemory": limit, "used_memory": used, "used_memory_percent": percent}
    if not limit:
        return [_row(snapshot, "fail", "maxmemory is 0: no memory limit", memory_limited=False, **fields)]
    shown = f"; {percent}% used" if percent is not None else ""
    return [_row(snapshot, "pass", f"maxmemory {limit} bytes{shown}", memory_limited=True, **fields)]


@SOURCE.evidence_type(
    "redis.server.eviction_policy",
    title="Redis evicts keys by an accepted policy when it reaches its memory limit",
    api_calls=(CONFIG_GET,),
    resource_kind="Redis server",
)
def eviction_policy(snapshot: ServerSnapshot) -> list[Row]:
    """The accepted policies are configured (``eviction_policies``); by default every evicting policy,
    not ``noeviction`` (writes fail once the limit is reached): a data store that must never lose a key
    accepts ``noeviction`` explicitly. Without a limit no eviction ever happens: not applicable."""
    accepted = snapshot.accepted_policies or EVICTING_POLICIES
    nulls = dict.fromkeys(("policy_accepted", "maxmemory_policy", "maxmemory"))
    unread = _unread(snapshot, ["maxmemory", "maxmemory-policy"], **nulls, accepted_policies=None)
    if unread:
        return [unread]
    policy = snapshot.config.get("maxmemory-policy")
    limit = _int(snapshot.config.get("maxmemory"))
    fields = {"maxmemory_policy": policy, "maxmemory": limit, "accepted_policies": ",".join(accepted)}
    if not limit:
        return [
            _row(
                snapshot,
                "not_applicable",
                f"no maxmemory, so {policy} never applies (see redis.server.memory_limit)",
                policy_accepted=None,
                **fields,
            )
        ]
    if policy in accepted:
        return [
            _row(snapshot, "pass", f"maxmemory-policy {policy} is accepted", policy_accepted=True, **fields)
        ]
    return [
        _row(
            snapshot,
            "fail",
            f"maxmemory-policy {policy} is not an accepted policy ({', '.join(accepted)})",
            policy_accepted=False,
            **fields,
        )
    ]


def _loopback_only(bind: str | None) -> bool:
    addresses = [a.lstrip("-") for a in (bind or "").split()]
    return bool(addresses) and all(a in LOOPBACK or a.startswith("127.") for a in addresses)


@SOURCE.evidence_type(
    "redis.server.access_control",
    title="Redis refuses clients without credentials (protected mode and dangerous commands reported)",
    api_calls=(CONFIG_GET, ANONYMOUS_PING, COMMAND_INFO),
    resource_kind="Redis server",
)
def access_control(snapshot: ServerSnapshot) -> list[Row]:
    """Fails when a client without credentials is served (the default user on with ``nopass``, no
    ``requirepass``). Protected mode and the dangerous commands still available under their own names
    are reported beside it: with ACLs, which user may run them is per user and CONFIG/INFO cannot
    show the default user's rules, so they refine the reason and do not decide it."""
    nulls = dict.fromkeys(
        ("auth_required", "unauthenticated_access", "protected_mode", "bind", "dangerous_commands")
    )
    unread = _unread(snapshot, ["protected-mode", "bind"], **nulls)
    if unread:
        return [unread]
    if isinstance(snapshot.anonymous, Failed):
        return [_row(snapshot, "error", failed_reason(snapshot.anonymous), **nulls)]
    anonymous = isinstance(snapshot.anonymous, Found) and snapshot.anonymous.value is True
    available = (
        sorted(n for n, on in snapshot.commands.value.items() if on)
        if isinstance(snapshot.commands, Found)
        else None
    )
    fields = {
        "unauthenticated_access": anonymous,
        "protected_mode": snapshot.config.get("protected-mode") == "yes",
        "bind": snapshot.config.get("bind"),
        "dangerous_commands": ",".join(available) if available is not None else None,
    }
    notes = []
    if not fields["protected_mode"]:
        notes.append("protected-mode off")
    if available:
        notes.append(f"dangerous commands under their own names: {', '.join(available)}")
    elif available is None:
        notes.append("dangerous commands not checked (COMMAND INFO not allowed)")
    tail = f" ({'; '.join(notes)})" if notes else ""
    if anonymous:
        reason = f"a client without credentials is served (default user without password){tail}"
        return [_row(snapshot, "fail", reason, auth_required=False, **fields)]
    return [
        _row(
            snapshot,
            "pass",
            f"clients must authenticate (NOAUTH without credentials){tail}",
            auth_required=True,
            **fields,
        )
    ]


@SOURCE.evidence_type(
    "redis.server.tls",
    title="Redis clients reach the server over TLS",
    api_calls=(CONFIG_GET,),
    resource_kind="Redis server",
)
def tls(snapshot: ServerSnapshot) -> list[Row]:
    """A TLS port with the plain port closed (``port 0``) passes; a plain port open to the network
    fails; a server bound to loopback only is not applicable (its traffic never leaves the host)."""
    nulls = dict.fromkeys(("encrypted_in_transit", "tls_port", "port", "connected_with_tls", "bind"))
    unread = _unread(snapshot, ["port", "bind"], **nulls)
    if unread:
        return [unread]
    fields: dict[str, Any] = {
        "tls_port": _int(snapshot.config.get("tls-port")) or 0,
        "port": _int(snapshot.config.get("port")),
        "connected_with_tls": snapshot.tls,
        "bind": snapshot.config.get("bind"),
    }
    if fields["tls_port"] and not fields["port"]:
        reason = f"TLS only (tls-port {fields['tls_port']}, plain port closed)"
        return [_row(snapshot, "pass", reason, encrypted_in_transit=True, **fields)]
    if _loopback_only(fields["bind"]):
        reason = f"bound to loopback only ({fields['bind']}): no traffic leaves the host"
        return [_row(snapshot, "not_applicable", reason, encrypted_in_transit=None, **fields)]
    if fields["tls_port"]:
        reason = f"tls-port {fields['tls_port']} but the plain port {fields['port']} is open too"
    else:
        reason = f"no TLS: clients talk in clear on port {fields['port']} (bind {fields['bind']})"
    return [_row(snapshot, "fail", reason, encrypted_in_transit=False, **fields)]


__all__ = ["PING", "fetch"]

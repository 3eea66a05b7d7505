"""Unit tests of the redis.server mappings and the Redis family's declarations (recorded answers, no
server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.core import Failed, Found
from collectors.redis.family import REDIS, RedisConfig, server_name
from collectors.redis.server import (
    PARAMETERS,
    ServerSnapshot,
    access_control,
    eviction_policy,
    memory_limit,
    persistence,
    tls,
)
from evidence.errors import ConfigError
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SERVER = "10.0.0.5:6379"

HARDENED_CONFIG = {
    "save": "3600 1 300 100",
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory": "67108864",
    "maxmemory-policy": "allkeys-lru",
    "protected-mode": "yes",
    "bind": "10.0.0.5",
    "port": "0",
    "tls-port": "6380",
}
CARELESS_CONFIG = {
    "save": "",
    "appendonly": "no",
    "appendfsync": "everysec",
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "protected-mode": "no",
    "bind": "* -::*",
    "port": "6379",
    "tls-port": "0",
}
PERSISTENCE_OK = {
    "rdb_last_save_time": int(NOW.timestamp()) - 1800,
    "rdb_last_bgsave_status": "ok",
    "aof_last_bgrewrite_status": "ok",
    "aof_last_write_status": "ok",
    "rdb_changes_since_last_save": 12,
}


def snapshot(
    config: dict[str, str] | None = None,
    *,
    persistence_info: dict[str, Any] | None = None,
    anonymous: Any = None,
    commands: Any = None,
    accepted: tuple[str, ...] = (),
    is_tls: bool = False,
) -> ServerSnapshot:
    return ServerSnapshot(
        target={"server": SERVER},
        observed_at=NOW,
        server=SERVER,
        config=dict(HARDENED_CONFIG if config is None else config),
        info={
            "persistence": dict(PERSISTENCE_OK if persistence_info is None else persistence_info),
            "memory": {"used_memory": 16777216},
        },
        anonymous=Found(False) if anonymous is None else anonymous,
        commands=Found({"FLUSHALL": False, "KEYS": True}) if commands is None else commands,
        accepted_policies=accepted,
        tls=is_tls,
    )


def only(rows: list[dict[str, Any]], type_id: str) -> dict[str, Any]:
    assert len(rows) == 1
    payload = {"evidence_type": type_id, "target": {"server": SERVER}, "rows": rows}
    assert schema_errors(type_id, payload) == []
    return rows[0]


def test_persistence_passes_with_rdb_and_aof_and_names_the_last_save() -> None:
    row = only(persistence(snapshot()), "redis.server.persistence")
    assert row["status"] == "pass" and row["persistent"] is True
    assert row["rdb_enabled"] and row["aof_enabled"] and row["aof_fsync"] == "everysec"
    assert row["last_save_age_hours"] == 0.5 and row["last_save_time"].startswith("2026-06-01T11:30")
    assert "RDB" in row["reason"] and "AOF" in row["reason"]


def test_persistence_fails_without_rdb_and_aof() -> None:
    row = only(persistence(snapshot(CARELESS_CONFIG)), "redis.server.persistence")
    assert row["status"] == "fail" and row["persistent"] is False
    assert "no persistence" in row["reason"]


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("rdb_last_bgsave_status", "last RDB save err"),
        ("aof_last_bgrewrite_status", "last AOF rewrite err"),
        ("aof_last_write_status", "last AOF write err"),
    ],
)
def test_persistence_fails_when_the_last_save_or_rewrite_failed(field: str, words: str) -> None:
    row = only(
        persistence(snapshot(persistence_info={**PERSISTENCE_OK, field: "err"})), "redis.server.persistence"
    )
    assert row["status"] == "fail" and words in row["reason"]


def test_a_parameter_not_answered_is_an_error_row_never_a_finding() -> None:
    config = {k: v for k, v in HARDENED_CONFIG.items() if k not in ("save", "maxmemory", "bind")}
    assert only(persistence(snapshot(config)), "redis.server.persistence")["status"] == "error"
    assert only(memory_limit(snapshot(config)), "redis.server.memory_limit")["status"] == "error"
    assert only(access_control(snapshot(config)), "redis.server.access_control")["status"] == "error"


def test_memory_limit() -> None:
    good = only(memory_limit(snapshot()), "redis.server.memory_limit")
    assert good["status"] == "pass" and good["maxmemory"] == 67108864 and good["used_memory_percent"] == 25.0
    bad = only(memory_limit(snapshot(CARELESS_CONFIG)), "redis.server.memory_limit")
    assert bad["status"] == "fail" and bad["memory_limited"] is False and "maxmemory is 0" in bad["reason"]


def test_eviction_policy_default_accepts_evicting_policies_only() -> None:
    assert only(eviction_policy(snapshot()), "redis.server.eviction_policy")["status"] == "pass"
    limited_noeviction = {**HARDENED_CONFIG, "maxmemory-policy": "noeviction"}
    row = only(eviction_policy(snapshot(limited_noeviction)), "redis.server.eviction_policy")
    assert row["status"] == "fail" and "noeviction" in row["reason"]
    # A data store that must never lose a key says so.
    accepted = snapshot(limited_noeviction, accepted=("noeviction",))
    assert only(eviction_policy(accepted), "redis.server.eviction_policy")["status"] == "pass"


def test_eviction_policy_without_a_limit_is_not_applicable() -> None:
    row = only(eviction_policy(snapshot(CARELESS_CONFIG)), "redis.server.eviction_policy")
    assert row["status"] == "not_applicable" and "memory_limit" in row["reason"]


def test_access_control_fails_when_anonymous_clients_are_served() -> None:
    row = only(
        access_control(snapshot(CARELESS_CONFIG, anonymous=Found(True))), "redis.server.access_control"
    )
    assert row["status"] == "fail" and row["unauthenticated_access"] is True
    assert "protected-mode off" in row["reason"] and "KEYS" in row["reason"]
    assert row["dangerous_commands"] == "KEYS"


def test_access_control_passes_when_clients_must_authenticate() -> None:
    row = only(access_control(snapshot()), "redis.server.access_control")
    assert row["status"] == "pass" and row["auth_required"] is True and row["protected_mode"] is True


def test_access_control_probe_that_failed_is_an_error_and_commands_not_checked_are_said() -> None:
    probe = Failed("unreachable", SourceError(code="Timeout", message="slow", operation="redis:PING"))
    assert only(access_control(snapshot(anonymous=probe)), "redis.server.access_control")["status"] == "error"
    denied = Failed("access_denied", SourceError(code="NOPERM", message="no", operation="redis:COMMAND INFO"))
    row = only(access_control(snapshot(commands=denied)), "redis.server.access_control")
    assert row["status"] == "pass" and row["dangerous_commands"] is None and "not checked" in row["reason"]


def test_tls_only_passes_plain_port_fails_loopback_is_not_applicable() -> None:
    assert only(tls(snapshot()), "redis.server.tls")["status"] == "pass"
    both = only(tls(snapshot({**HARDENED_CONFIG, "port": "6379"})), "redis.server.tls")
    assert both["status"] == "fail" and "plain port 6379" in both["reason"]
    clear = only(tls(snapshot(CARELESS_CONFIG)), "redis.server.tls")
    assert clear["status"] == "fail" and clear["encrypted_in_transit"] is False
    loopback = only(tls(snapshot({**CARELESS_CONFIG, "bind": "127.0.0.1 -::1"})), "redis.server.tls")
    assert loopback["status"] == "not_applicable"


def test_no_secret_parameter_is_ever_read() -> None:
    secret = {"requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"}
    assert not secret & set(PARAMETERS)
    assert "*" not in "".join(PARAMETERS)


def test_permission_model_and_policy() -> None:
    model = REDIS.permission_model
    assert model.check("+config|get") is None and model.check("+info") is None
    assert (
        model.check("+config|set") and model.check("+@all") and model.check("config") and model.check("+keys")
    )
    policy = REDIS.policy()
    line = next(x for x in policy.splitlines() if not x.startswith("#"))
    assert line == "ACL SETUSER evidence-collector reset on >CHANGE-ME +command|info +config|get +info +ping"
    assert "~" not in line and "&" not in line  # no key pattern, no channel: values are never read


def test_configure_builds_servers_and_refuses_bad_urls() -> None:
    config = REDIS.configure(REDIS.connection.resolve({"host": "cache.internal", "port": 6380}, environ={}))
    assert config.urls == ("redis://cache.internal:6380",)
    with pytest.raises(ConfigError, match="set --url"):
        REDIS.configure({})
    with pytest.raises(ConfigError, match="not a redis"):
        REDIS.configure({"urls": ["http://cache:6379"]})
    env = {"EVIDENCE_REDIS_URLS": "redis://a:1,rediss://b:2", "EVIDENCE_REDIS_PASSWORD": "pw-s3cr3t"}
    resolved = REDIS.configure(REDIS.connection.resolve(environ=env))
    assert [server_name(u) for u in resolved.urls] == ["a:1", "b:2"] and resolved.password == "pw-s3cr3t"
    assert "pw-s3cr3t" not in repr(resolved)


def test_units_name_the_server_without_credentials() -> None:
    config = RedisConfig(urls=("redis://user:s3cr3t@cache.internal:6390/0",))
    units = REDIS.plan(config)
    assert {u.scope_dict["server"] for u in units} == {"cache.internal:6390"}
    assert all("s3cr3t" not in u.label for u in units)

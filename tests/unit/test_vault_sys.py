"""Unit tests of the vault.sys mappings and the Vault permission model (recorded answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collectors.core import Absent, Failed, Found
from collectors.vault.family import VaultConfig, VaultPolicy
from collectors.vault.sys import (
    SysSnapshot,
    acl_policies,
    audit_devices,
    auth_methods,
    ha,
    health,
    key_status,
    policy_rules,
    root_like_findings,
    secret_engines,
)
from evidence.errors import ConfigError
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DENIED = Failed(
    "access_denied",
    SourceError(code="PermissionDenied", message="permission denied", operation="x", permission="p:read"),
)


def wrapped(data: dict[str, Any]) -> Found:
    return Found({"request_id": "r-1", "data": data})


def snap(**kwargs: Any) -> SysSnapshot:
    return SysSnapshot(
        target={"vault": "http://v", "cluster": "c1"}, observed_at=NOW, address="http://v", **kwargs
    )


def valid(type_id: str, rows: list[dict[str, Any]]) -> None:
    payload = {"evidence_type": type_id, "target": {"vault": "http://v"}, "rows": rows}
    assert schema_errors(type_id, payload) == []


def test_health_passes_unsealed_and_fails_sealed() -> None:
    up = health(
        snap(seal=Found({"sealed": False, "initialized": True, "version": "2.7", "storage_type": "raft"}))
    )
    assert up[0]["status"] == "pass" and up[0]["resource"] == "c1"
    down = health(snap(seal=Found({"sealed": True, "initialized": True})))
    assert down[0]["status"] == "fail"
    valid("vault.sys.health", up + down)


def test_ha_fails_single_node_and_small_raft_and_passes_three_voters() -> None:
    single = ha(snap(leader=Found({"ha_enabled": False}), seal=Found({"storage_type": "inmem"})))
    assert single[0]["status"] == "fail" and "HA not enabled" in single[0]["reason"]
    servers = [{"node_id": str(i), "voter": True} for i in range(3)]
    three = ha(
        snap(
            leader=Found({"ha_enabled": True, "is_self": True, "leader_address": "https://a"}),
            seal=Found({"storage_type": "raft"}),
            raft=wrapped({"config": {"servers": servers}}),
            raft_snapshots=Absent("404"),
        )
    )
    assert three[0]["status"] == "pass" and three[0]["raft_voters"] == 3
    assert three[0]["auto_snapshot_configured"] is False
    one = ha(
        snap(
            leader=Found({"ha_enabled": True}),
            seal=Found({"storage_type": "raft"}),
            raft=wrapped({"config": {"servers": servers[:1]}}),
        )
    )
    assert one[0]["status"] == "fail" and "1 voter" in one[0]["reason"]
    valid("vault.sys.ha", single + three + one)


def test_ha_reads_autopilot_tolerance_and_unhealthy_servers() -> None:
    servers = [{"node_id": f"n{i}", "voter": True} for i in range(3)]

    def raft(autopilot: Any) -> list[dict[str, Any]]:
        return ha(
            snap(
                leader=Found({"ha_enabled": True, "is_self": False, "leader_address": "https://a"}),
                seal=Found({"storage_type": "raft"}),
                raft=wrapped({"config": {"servers": servers}}),
                raft_snapshots=Absent("404"),
                autopilot=autopilot,
            )
        )

    def member(name: str, healthy: bool) -> dict[str, Any]:
        return {"id": name, "healthy": healthy, "status": "voter" if healthy else "non-voter"}

    healthy = raft(
        wrapped({"failure_tolerance": 1, "servers": {n: member(n, True) for n in ("n0", "n1", "n2")}})
    )
    assert healthy[0]["status"] == "pass" and "(tolerates 1 failure)" in healthy[0]["reason"]
    assert healthy[0]["failure_tolerance"] == 1 and healthy[0]["unhealthy_servers"] == []
    one_down = raft(
        wrapped(
            {
                "failure_tolerance": 0,
                "servers": {"n0": member("n0", True), "n1": member("n1", True), "n2": member("n2", False)},
            }
        )
    )
    assert one_down[0]["status"] == "fail" and "n2 not healthy" in one_down[0]["reason"]
    assert one_down[0]["unhealthy_servers"] == ["n2"]
    no_margin = raft(wrapped({"failure_tolerance": 0, "servers": {}}))
    assert no_margin[0]["status"] == "fail" and "tolerates no server failure" in no_margin[0]["reason"]
    # Autopilot not offered (404) or not allowed: judged on the raft configuration alone.
    unknown = raft(Absent("404"))
    assert unknown[0]["status"] == "pass" and unknown[0]["failure_tolerance"] is None
    assert unknown[0]["unhealthy_servers"] is None
    valid("vault.sys.ha", healthy + one_down + no_margin + unknown)


def test_audit_devices_none_is_a_failure_row() -> None:
    none = audit_devices(snap(audit=wrapped({})))
    assert [r["status"] for r in none] == ["fail"] and "not logged" in none[0]["reason"]
    some = audit_devices(snap(audit=wrapped({"file/": {"type": "file", "options": {"file_path": "/a.log"}}})))
    assert some[0]["status"] == "pass" and some[0]["options_file_path"] == "/a.log"
    valid("vault.sys.audit_devices", none + some)


def test_auth_methods_judge_the_effective_max_ttl() -> None:
    snapshot = snap(
        auth=wrapped(
            {"token/": {"type": "token"}, "userpass/": {"type": "userpass"}, "oidc/": {"type": "oidc"}}
        ),
        tunes={
            "token/": wrapped({"default_lease_ttl": 3600, "max_lease_ttl": 86400}),
            "userpass/": wrapped({"default_lease_ttl": 2764800, "max_lease_ttl": 2764800}),
            "oidc/": DENIED,
        },
    )
    rows = {r["resource"]: r for r in auth_methods(snapshot)}
    assert rows["token/"]["status"] == "pass"
    assert rows["userpass/"]["status"] == "fail" and "768 h" in rows["userpass/"]["reason"]
    assert rows["oidc/"]["status"] == "error" and "p:read" in rows["oidc/"]["reason"]
    valid("vault.sys.auth_methods", list(rows.values()))


def test_secret_engines_kv1_fails_and_no_kv_at_all_fails() -> None:
    mounts = {
        "secret/": {"type": "kv", "options": {"version": "2"}},
        "legacy/": {"type": "kv", "options": None},
        "transit/": {"type": "transit"},
        "sys/": {"type": "system"},
    }
    rows = {r["resource"]: r for r in secret_engines(snap(mounts=wrapped(mounts)))}
    assert set(rows) == {"secret/", "legacy/"}
    assert rows["secret/"]["status"] == "pass" and rows["legacy/"]["status"] == "fail"
    empty = secret_engines(snap(mounts=wrapped({"sys/": {"type": "system"}})))
    assert [r["status"] for r in empty] == ["fail"]
    valid("vault.sys.secret_engines", list(rows.values()) + empty)


HCL = """
# operators
path "sys/*" {
  capabilities = ["read", "update", "sudo"]
  allowed_parameters = {
    "key" = []
  }
}
path "secret/data/app/*" { capabilities = ["read"] }
"""


def test_policy_rules_read_hcl_and_json() -> None:
    assert policy_rules(HCL) == {"sys/*": {"read", "update", "sudo"}, "secret/data/app/*": {"read"}}
    assert policy_rules('{"path": {"*": {"capabilities": ["create", "update"]}}}') == {
        "*": {"create", "update"}
    }


def test_root_like_findings() -> None:
    assert root_like_findings({"sys/*": {"read", "list"}}) == []
    assert root_like_findings({"*": {"update"}}) == ['update on "*"']
    assert root_like_findings({"sys/leases/*": {"sudo"}}) == ['sudo on the glob "sys/leases/*"']
    assert root_like_findings({"sys/*": {"deny"}}) == []


def test_acl_policies_flag_root_like_and_name_unreadable() -> None:
    snapshot = snap(
        policies={
            "ops": wrapped({"name": "ops", "rules": HCL}),
            "app": wrapped({"name": "app", "policy": 'path "secret/metadata/*" { capabilities = ["list"] }'}),
            "hidden": DENIED,
        }
    )
    rows = {r["resource"]: r for r in acl_policies(snapshot)}
    assert rows["ops"]["status"] == "fail" and rows["ops"]["root_like"] is True
    assert rows["app"]["status"] == "pass"
    assert rows["hidden"]["status"] == "error"
    valid("vault.sys.acl_policies", list(rows.values()))


def test_key_status_age() -> None:
    fresh = key_status(
        snap(key_status=wrapped({"term": 3, "install_time": (NOW - timedelta(days=10)).isoformat()}))
    )
    assert fresh[0]["status"] == "pass" and fresh[0]["age_days"] == 10.0
    old = key_status(snap(key_status=wrapped({"term": 1, "install_time": "2024-01-01T00:00:00Z"})))
    assert old[0]["status"] == "fail" and "rotate" in old[0]["reason"]
    assert key_status(snap(key_status=DENIED)) == []  # the record is an error (the snapshot failure)
    valid("vault.sys.key_status", fresh + old)


def test_policy_model_renders_hcl_and_refuses_data_paths_and_writes() -> None:
    model = VaultPolicy()
    assert model.check("sys/audit:read,sudo") is None
    assert model.check("secret/data/*:read") is not None
    assert model.check("sys/mounts:update") is not None
    text = model.render(["sys/audit:read", "sys/audit:sudo", "sys/mounts:read"])
    assert 'path "sys/audit" {\n  capabilities = ["read", "sudo"]\n}' in text


def test_the_generated_policy_grants_no_value_path() -> None:
    from evidence import registry

    text = registry.family("vault").policy()
    rules = policy_rules(text)
    assert not [p for p in rules if "/data/" in p or p.startswith("+/data")]
    assert set().union(*rules.values()) <= {"read", "list", "sudo"}
    assert 'path "+/metadata/*"' in text and 'path "sys/audit"' in text


def test_config_needs_an_address_and_a_credential() -> None:
    with pytest.raises(ConfigError, match="EVIDENCE_VAULT_ADDR"):
        VaultConfig.from_mapping({"token": "t"})
    with pytest.raises(ConfigError, match="AppRole"):
        VaultConfig.from_mapping({"url": "http://v"})
    cfg = VaultConfig.from_mapping(
        {"url": "http://v/", "role_id": "r", "secret_id": "s", "kv_mounts": ["kv"]}
    )
    assert (
        cfg.url == "http://v"
        and cfg.kv_mounts == ("kv/",)
        and "s" not in repr(cfg).split("secret_id")[0][-3:]
    )
    assert "secret_id='s'" not in repr(cfg)


def test_settings_as_the_airflow_vault_connection_hands_them_over() -> None:
    # host/port -> url/port; login -> role_id; password -> token (an AppRole's secret_id there)
    cfg = VaultConfig.from_mapping({"url": "vault.internal", "port": 8201, "role_id": "r", "token": "sid"})
    assert cfg.url == "https://vault.internal:8201"
    assert cfg.token is None and cfg.secret_id == "sid" and cfg.role_id == "r"
    plain = VaultConfig.from_mapping({"url": "https://vault:8200", "token": "t"})
    assert plain.token == "t" and plain.secret_id is None

"""``vault.sys.ha`` against a real OpenBao cluster with integrated (raft) storage on loopback: three
nodes that autopilot reports healthy pass (asked of the active node or of a standby, which forwards);
the generated least-privilege policy reads raft's configuration and autopilot; one node stopped makes the
record fail naming it; a single raft node fails (no quorum survives its loss)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.core.runner import collect_all
from collectors.vault.family import VAULT
from evidence.records import PreparedRecord, RunContext
from tests.support.openbao_raft import RaftCluster, raft_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[RaftCluster]:
    with raft_cluster(3) as running:
        running.wait_healthy()
        yield running


def ha_record(url: str, token: str) -> PreparedRecord:
    config = VAULT.configure(VAULT.connection.resolve({"url": url, "token": token}, environ={}))
    records = collect_all(VAULT, config, RunContext(run_id="raft-test"), types=["vault.sys.ha"], run_gx=True)
    assert [r.draft.evidence_type for r in records] == ["vault.sys.ha"]
    return records[0]


def row(record: PreparedRecord) -> dict[str, Any]:
    rows = json.loads(record.payload)["rows"]
    assert len(rows) == 1
    return dict(rows[0])


def test_a_healthy_three_node_cluster_passes_from_the_leader_and_a_standby(cluster: RaftCluster) -> None:
    for node, is_self in ((cluster.leader, True), (cluster.nodes[1], False)):
        record = ha_record(node.url, cluster.root_token)
        got = row(record)
        assert record.draft.status == "pass", record.draft.reason
        assert got["storage_type"] == "raft" and got["ha_enabled"] is True and got["is_self"] is is_self
        assert got["leader_address"] == cluster.leader.url
        assert got["raft_voters"] == 3 and got["failure_tolerance"] == 1 and got["unhealthy_servers"] == []
        # OpenBao has no automated snapshots (an Enterprise API): reported, not guessed
        assert got["auto_snapshot_configured"] is False
        assert "3 raft voters (tolerates 1 failure)" in got["reason"]


def test_the_generated_policy_reads_raft_and_autopilot(cluster: RaftCluster) -> None:
    client = cluster.leader.client(cluster.root_token)
    client.sys.create_or_update_policy("evidence-collector", VAULT.policy())
    token = client.auth.token.create(policies=["evidence-collector"], ttl="1h", no_default_policy=True)
    record = ha_record(cluster.leader.url, token["auth"]["client_token"])
    assert record.draft.status == "pass", record.draft.reason
    assert row(record)["failure_tolerance"] == 1


def test_a_stopped_node_fails_the_record_naming_it(cluster: RaftCluster) -> None:
    # last in this module: the stopped node stays down
    cluster.nodes[2].stop()
    cluster.wait_unhealthy("node2")
    record = ha_record(cluster.leader.url, cluster.root_token)
    got = row(record)
    assert record.draft.status == "fail"
    assert got["unhealthy_servers"] == ["node2"] and got["failure_tolerance"] == 0
    assert "node2 not healthy" in record.draft.reason
    assert got["raft_voters"] == 3  # still configured: only autopilot sees it is gone


def test_a_single_raft_node_fails() -> None:
    with raft_cluster(1) as single:
        record = ha_record(single.leader.url, single.root_token)
    assert record.draft.status == "fail"
    assert row(record)["raft_voters"] == 1 and "1 voter(s)" in record.draft.reason

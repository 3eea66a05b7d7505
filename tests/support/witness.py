"""A witness (``evidence witness serve``) as a real process on loopback, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from collectors.core.commands import stop_group
from evidence.note import ALG_COSIGNATURE_V1, VerifierKey
from evidence.signing import Signer
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]


class WitnessProcess:
    def __init__(self, folder: Path, log_keys: Sequence[VerifierKey], name: str = "witness.test/w1") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.name = name
        signer = Signer.generate()
        self.key_file = folder / "witness-key.pem"
        self.key_file.write_bytes(signer.private_pem())
        self.key_file.chmod(0o600)
        self.key = VerifierKey(name, ALG_COSIGNATURE_V1, signer.verifier().raw())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_keys = list(log_keys)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> str:
        """The EVIDENCE_WITNESSES entry for this witness."""
        return f"{self.url} {self.key.encode()}"

    def start(self) -> WitnessProcess:
        command = [
            sys.executable,
            "-m",
            "evidence.cli",
            "witness",
            "serve",
            "--key",
            str(self.key_file),
            "--name",
            self.name,
            "--state",
            str(self.folder / "state"),
            "--listen",
            f"127.0.0.1:{self.port}",
        ]
        for key in self.log_keys:
            command += ["--log", key.encode()]
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"witness exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("witness did not listen within 30 s")

    def stop(self) -> None:
        stop_group(self.proc)


@contextmanager
def witness_process(
    folder: Path, log_keys: Sequence[VerifierKey], name: str = "witness.test/w1"
) -> Iterator[WitnessProcess]:
    witness = WitnessProcess(folder, log_keys, name).start()
    try:
        yield witness
    finally:
        witness.stop()

"""Redis servers on loopback for the demo and the tests: real ``redis-server`` processes on free ports,
each from its own config file in a temporary folder, stopped (by their own process id) on exit.

The demo estate is a hardened server (AOF and RDB, maxmemory with LRU eviction, a password, protected
mode) and a careless one (no persistence, no memory limit, anonymous access, protected mode off),
both with the collector's least-privilege ACL user, so every check has a pass and a fail.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from collectors.core.commands import stop_process
from evidence.family import DemoEstate

COLLECTOR_USER = "evidence-collector"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    return found


class RedisProcess:
    """One ``redis-server`` on 127.0.0.1 with the given config directives (``port``, ``dir`` and
    ``bind`` are set here). ``url`` is how a client reaches it."""

    def __init__(
        self, directives: Sequence[str] = (), *, tls_files: tuple[str, str, str] | None = None
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="evidence-redis-"))
        self.port = free_port()
        self.tls_port = free_port() if tls_files else 0
        lines = [
            "bind 127.0.0.1",
            f"port {0 if tls_files else self.port}",
            f"dir {self.folder}",
            "daemonize no",
            "logfile ''",
            "loglevel warning",
        ]
        if tls_files:
            cert, key, ca = tls_files
            lines += [
                f"tls-port {self.tls_port}",
                f"tls-cert-file {cert}",
                f"tls-key-file {key}",
                f"tls-ca-cert-file {ca}",
                "tls-auth-clients no",
            ]
        lines += list(directives)
        (self.folder / "redis.conf").write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls_port:
            return f"rediss://127.0.0.1:{self.tls_port}"
        return f"redis://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.tls_port or self.port}"

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(
            [redis_server_binary(), str(self.folder / "redis.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.tls_port or self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on {self.address} within 10 s")

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def collector_user(password: str, rules: str) -> str:
    """The ``user`` directive for the collector's ACL user (the rules from ``evidence policy redis``)."""
    return f"user {COLLECTOR_USER} on >{password} resetchannels {rules}"


def policy_rules() -> str:
    from collectors.redis.family import REDIS

    policy = REDIS.policy()
    line = next(x for x in policy.splitlines() if x.startswith("ACL SETUSER"))
    return " ".join(w for w in line.split()[6:])  # after "ACL SETUSER name reset on >pw"


HARDENED = (
    "save 3600 1 300 100",
    "appendonly yes",
    "appendfsync everysec",
    "maxmemory 64mb",
    "maxmemory-policy allkeys-lru",
    "protected-mode yes",
    'rename-command FLUSHALL ""',
    'rename-command FLUSHDB ""',
    'rename-command DEBUG ""',
)
CARELESS = (
    'save ""',
    "appendonly no",
    "maxmemory 0",
    "maxmemory-policy noeviction",
    "protected-mode no",
)


@contextmanager
def demo_servers() -> Iterator[DemoEstate]:
    password = secrets.token_urlsafe(16)
    user = collector_user(password, policy_rules())
    with ExitStack() as stack:
        hardened = stack.enter_context(
            RedisProcess([*HARDENED, f"requirepass {secrets.token_urlsafe(16)}", user])
        )
        careless = stack.enter_context(RedisProcess([*CARELESS, user]))
        passing = {hardened.address}
        failing = {careless.address}
        yield DemoEstate(
            settings={
                "urls": [hardened.url, careless.url],
                "username": COLLECTOR_USER,
                "password": password,
            },
            description=f"two redis-server processes on {hardened.address} (hardened) and {careless.address}",
            extra={
                "expectations": {
                    "redis.server.persistence": {"passing": passing, "failing": failing},
                    "redis.server.memory_limit": {"passing": passing, "failing": failing},
                    "redis.server.eviction_policy": {"passing": passing, "failing": set()},
                    "redis.server.access_control": {"passing": passing, "failing": failing},
                    "redis.server.tls": {"passing": set(), "failing": set()},
                },
            },
        )

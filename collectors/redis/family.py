"""The Redis collector family: one unit per Redis server (a ``redis://`` or ``rediss://`` URL).

``connect`` opens one client with the configured user and password and pings the server: an
unreachable server, a missing password (``NOAUTH``) or a wrong one (``WRONGPASS``) makes every
evidence type of the unit an ``error`` record naming it. The collector reads ``CONFIG GET`` for a
fixed list of non-secret parameters and ``INFO``: never a key, a value, nor a password parameter.

The permission model is Redis ACL rules (``+config|get``, ``+info``...); ``evidence policy redis``
renders the least-privilege ``ACL SETUSER`` line: no key or channel access, only those commands.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from collectors.core import CallRecorder, Failed, Found, Outcome, TargetUnavailable, one_line
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

# One ACL rule that allows a command or one of its subcommands: "+info", "+config|get".
_RULE = re.compile(r"\+[a-z][a-z-]*(\|[a-z][a-z-]*)?")
ACL_USER = "evidence-collector"
PASSWORD_PLACEHOLDER = "CHANGE-ME"  # the operator puts the collector's password here

PING = ApiPermission("redis", "PING", "+ping")


class RedisAclPermissions:
    """Redis ACL command rules; the policy is an ``ACL SETUSER`` line granting exactly them."""

    name = "Redis ACL rules"
    media_type = "text/plain"

    def check(self, permission: str) -> str | None:
        if not _RULE.fullmatch(permission):
            return "not an ACL rule allowing one command or subcommand (+command or +command|subcommand)"
        if permission.startswith(("+@", "+config|set", "+acl|")) or permission in ("+config", "+keys"):
            return "a collector grants itself read-only commands only"
        return None

    def render(self, permissions: Sequence[str]) -> str:
        rules = " ".join(sorted(set(permissions)))
        return (
            "# Least-privilege Redis ACL for the evidence collector: no key, no channel, only these\n"
            f"# commands. Replace {PASSWORD_PLACEHOLDER} (or use #<sha256> of the password), then run it\n"
            "# with redis-cli, or write it as a `user ...` line (without ACL SETUSER) in the aclfile.\n"
            f"ACL SETUSER {ACL_USER} reset on >{PASSWORD_PLACEHOLDER} {rules}\n"
        )


@dataclass(frozen=True)
class RedisConfig:
    urls: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # CA bundle for rediss:// servers; None: the system's
    accepted_policies: tuple[str, ...] = ()  # eviction policies the team accepts; empty: any but none
    timeout: float = 5.0
    concurrency: int = 4

    def __repr__(self) -> str:  # never print the password
        return f"RedisConfig(urls={[server_name(u) for u in self.urls]}, username={self.username!r})"


def server_name(url: str) -> str:
    """``host:port`` of a Redis URL: the records' resource, with no credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def _code(exc: BaseException) -> str:
    """The server's error code (the first word of its message: NOAUTH, WRONGPASS, NOPERM, ERR)."""
    import redis.exceptions as rex

    message = str(exc)
    if isinstance(exc, rex.AuthenticationError):  # redis-py strips the code off these replies
        wrong = "WRONGPASS" in message or "invalid" in message or "without any password" in message
        return "WRONGPASS" if wrong else "NOAUTH"
    if isinstance(exc, rex.NoPermissionError):
        return "NOPERM"
    first = message.split(" ", 1)[0]
    if first.isupper() and first.isalpha():
        return first
    if isinstance(exc, rex.TimeoutError):
        return "Timeout"
    if isinstance(exc, rex.ConnectionError):
        return "ConnectionError"
    return type(exc).__name__


class RedisRecorder(CallRecorder):
    def call(self, client: Any, api: ApiPermission, *args: str) -> Outcome:
        """One command, sorted at the boundary: NOPERM/NOAUTH/WRONGPASS -> access denied, a lost
        connection or a timeout -> unreachable, another error reply -> client error."""
        import redis.exceptions as rex

        params = {"command": " ".join(args)}
        try:
            value = client.execute_command(*args)
        except (rex.ConnectionError, rex.TimeoutError, rex.ResponseError, OSError) as exc:
            code = _code(exc)
            self.record(ApiCall(service=api.service, operation=api.operation, params=params, error_code=code))
            if isinstance(exc, rex.AuthenticationError | rex.NoPermissionError) or code in (
                "NOAUTH",
                "WRONGPASS",
                "NOPERM",
            ):
                denied = code == "NOPERM"
                return Failed(
                    "access_denied",
                    SourceError(
                        code=code,
                        message=one_line(str(exc)),
                        operation=api.key,
                        permission=api.permission if denied else None,
                    ),
                )
            if isinstance(exc, rex.ResponseError):
                return Failed(
                    "client_error", SourceError(code=code, message=one_line(str(exc)), operation=api.key)
                )
            return Failed(
                "unreachable", SourceError(code=code, message=one_line(str(exc)), operation=api.key)
            )
        self.record(ApiCall(service=api.service, operation=api.operation, params=params))
        return Found(value)


@dataclass(frozen=True)
class RedisServer:
    """A unit's connection: the client, and how the probe of anonymous access reaches the server."""

    client: Any
    url: str
    name: str
    tls: bool
    authenticated: bool  # the collector itself sent credentials
    config: RedisConfig

    def anonymous_client(self) -> Any:
        return _client(self.url, self.config, anonymous=True)


def _client(url: str, config: RedisConfig, *, anonymous: bool = False) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs: dict[str, Any] = {
        "socket_timeout": config.timeout,
        "socket_connect_timeout": config.timeout,
        "decode_responses": True,
        "protocol": 2,  # RESP2: no HELLO, so Redis before 6 answers too
        # One attempt: a server that does not answer is recorded as such, not retried for minutes.
        "retry": Retry(NoBackoff(), 0),
    }
    if url.startswith("rediss://") and config.ca_file:
        kwargs["ssl_ca_certs"] = config.ca_file
    if anonymous:
        parts = urlsplit(url)
        netloc = parts.hostname or "127.0.0.1"
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        url = f"{parts.scheme}://{netloc}:{parts.port or 6379}{parts.path}"
        kwargs.update(username=None, password=None)
    else:
        if config.username:
            kwargs["username"] = config.username
        if config.password:
            kwargs["password"] = config.password
    client = redis.Redis.from_url(url, **kwargs)
    # COMMAND INFO answers nil for a command that is renamed away; redis-py's parser cannot take that.
    client.set_response_callback("COMMAND", lambda response, **_: response)
    return client


class RedisFamily(Family[RedisServer]):
    name = "redis"
    title = "Redis"
    connection = ConnectionSpec(
        conn_type="redis",
        default_conn_id="redis_default",
        description=(
            "Redis servers by URL (redis:// or rediss://); the Airflow connection's host, port, login "
            "and password give one server, its extra may list more under 'urls'"
        ),
        settings=(
            Setting(
                "urls",
                "Redis server URL, redis://host:port or rediss:// for TLS (repeat)",
                env="EVIDENCE_REDIS_URLS",
                flags=("--url",),
                multiple=True,
            ),
            Setting("host", "one server's host (an Airflow redis connection's host field)"),
            Setting("port", "that server's port (default 6379)", kind="int"),
            Setting("username", "ACL user the collector logs in as", env="EVIDENCE_REDIS_USERNAME"),
            Setting("password", "the user's password", env="EVIDENCE_REDIS_PASSWORD", secret=True),
            Setting(
                "ca_file",
                "CA bundle to verify rediss:// servers",
                env="EVIDENCE_REDIS_CA_FILE",
                flags=("--ca-file",),
            ),
            Setting(
                "eviction_policies",
                "accepted maxmemory-policy values (repeat); default: any policy but noeviction-less limits",
                env="EVIDENCE_REDIS_EVICTION_POLICIES",
                flags=("--eviction-policy",),
                multiple=True,
            ),
            Setting("timeout", "seconds to wait for a server", env="EVIDENCE_REDIS_TIMEOUT", kind="float"),
        ),
    )
    permission_model = RedisAclPermissions()
    modules = ("collectors.redis.server",)
    framework_permissions = ("+ping",)

    def configure(self, settings: Mapping[str, Any]) -> RedisConfig:
        urls = tuple(str(u) for u in settings.get("urls") or ())
        if not urls and settings.get("host"):  # an Airflow redis connection: host and port fields
            host = str(settings["host"])
            urls = (host if "://" in host else f"redis://{host}:{settings.get('port') or 6379}",)
        if not urls:
            raise ConfigError("redis: set --url or EVIDENCE_REDIS_URLS (redis://host:port)")
        bad = [server_name(u) for u in urls if not u.startswith(("redis://", "rediss://"))]
        if bad:
            raise ConfigError(f"redis: not a redis:// or rediss:// URL: {', '.join(bad)}")
        return RedisConfig(
            urls=urls,
            username=settings.get("username") or None,
            password=settings.get("password") or None,
            ca_file=settings.get("ca_file") or None,
            accepted_policies=tuple(settings.get("eviction_policies") or ()),
            timeout=float(settings.get("timeout") or 5.0),
        )

    def plan(
        self,
        config: RedisConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [
            Unit(self.name, source.name, (("server", server_name(url)),), only)
            for source in chosen
            for url in config.urls
        ]

    def recorder(self) -> RedisRecorder:
        return RedisRecorder()

    def connect(self, opened: RedisConfig, unit: Unit, recorder: Any) -> tuple[RedisServer, dict[str, str]]:
        name = unit.scope_dict["server"]
        url = next((u for u in opened.urls if server_name(u) == name), None)
        if url is None:  # a unit planned elsewhere (an event) for a server this config does not name
            url = f"redis://{name}"
        target = {"server": name}
        client = _client(url, opened)
        outcome = recorder.call(client, PING, "PING")
        if isinstance(outcome, Failed):
            client.close()
            raise TargetUnavailable(target, outcome.error)
        server = RedisServer(
            client=client,
            url=url,
            name=name,
            tls=url.startswith("rediss://"),
            authenticated=bool(opened.password or urlsplit(url).password),
            config=opened,
        )
        return server, target

    def demo(self) -> AbstractContextManager[DemoEstate]:
        return _demo()


@contextmanager
def _demo() -> Iterator[DemoEstate]:
    from collectors.redis.demo import demo_servers

    with demo_servers() as estate:
        yield estate


REDIS = RedisFamily()

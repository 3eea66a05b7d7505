"""The Vault (and OpenBao) collector family: one Vault server (or cluster address) per collection.

A unit is one source at one Vault address: ``vault.sys`` (health, HA, audit devices, auth methods,
secret engines, ACL policies, barrier key) and ``vault.kv`` (KV v2 secret metadata, never values).
``connect`` reads ``sys/health`` (unauthenticated) and ``auth/token/lookup-self``: an unreachable or
sealed server, or a token that is expired, revoked or invalid, makes every evidence type of the unit an
``error`` record saying which.

Calls go through hvac's adapter (token header, namespace, TLS, AppRole login) with exceptions off, so
the recorder sorts each answer itself: 403 is a missing capability (named in the record), 404 is
"absent", 503 sealed, 429/5xx unavailable. The permission model is Vault's ACL: each declared call
needs ``<path>:<capabilities>``, and ``evidence policy vault`` prints the HCL policy granting exactly
those (read/list/sudo only; no ``<mount>/data/*`` path, so the collector cannot read a secret value).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from collectors.core import Absent, CallRecorder, Failed, Found, Outcome, TargetUnavailable, one_line, scrub
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

READ_ONLY_CAPABILITIES = ("read", "list", "sudo")
_PERMISSION = re.compile(r"([A-Za-z0-9_+*/.{}-]+):((?:read|list|sudo)(?:,(?:read|list|sudo))*)")
# Vault's own credential parameters, on top of the core's list (an AppRole secret_id, a wrapping token).
_VAULT_SECRET = re.compile(
    r"(password|secret_?id|token|unseal|private_?key|credential|authorization|hmac|key_shares)", re.I
)

LOOKUP_SELF = ApiPermission("auth", "GET /v1/auth/token/lookup-self", "auth/token/lookup-self:read")
HEALTH = "GET /v1/sys/health"


class VaultPolicy:
    """Vault ACL paths and capabilities (``sys/audit:read,sudo``); the policy is HCL."""

    name = "Vault ACL capabilities"
    media_type = "text/x-hcl"

    def check(self, permission: str) -> str | None:
        if not _PERMISSION.fullmatch(permission):
            return "not a read-only Vault permission (<path>:read|list|sudo[,...])"
        if "/data/" in permission or permission.startswith("+/data"):
            return "a KV v2 data path: the collector never reads secret values"
        return None

    def grants(self, permissions: Sequence[str]) -> dict[str, list[str]]:
        """Path -> sorted capabilities, merged over the declared permissions."""
        merged: dict[str, set[str]] = {}
        for permission in permissions:
            path, _, caps = permission.rpartition(":")
            merged.setdefault(path, set()).update(caps.split(","))
        return {path: sorted(caps) for path, caps in sorted(merged.items())}

    def render(self, permissions: Sequence[str]) -> str:
        lines = [
            "# Least-privilege Vault policy for the evidence collector, generated from its declared calls",
            "# (`evidence policy vault`). Read, list and sudo only; no <mount>/data/* path: secret values",
            "# are never readable with it. `+` matches one path segment (a KV v2 mount).",
        ]
        for path, caps in self.grants(permissions).items():
            lines += ["", f'path "{path}" {{', f"  capabilities = {json.dumps(caps)}", "}"]
        return "\n".join(lines) + "\n"


VAULT_CONNECTION = ConnectionSpec(
    conn_type="vault",
    default_conn_id="vault_default",
    description=(
        "a Vault or OpenBao server: its address and a token, or an AppRole (role_id + secret_id); "
        "the Airflow Vault connection's host/port (or extra url), password (token) or login/password "
        "(AppRole role_id/secret_id)"
    ),
    settings=(
        Setting("url", "Vault address, e.g. https://vault:8200", env="EVIDENCE_VAULT_ADDR", flags=("--url",)),
        Setting("token", "Vault token", env="EVIDENCE_VAULT_TOKEN", secret=True),
        Setting("role_id", "AppRole role_id (instead of a token)", env="EVIDENCE_VAULT_ROLE_ID"),
        Setting("secret_id", "AppRole secret_id", env="EVIDENCE_VAULT_SECRET_ID", secret=True),
        Setting("approle_mount", "AppRole mount path", env="EVIDENCE_VAULT_APPROLE_MOUNT"),
        Setting(
            "auth_type",
            "token or approle (the Airflow Vault connection's extra)",
            env="EVIDENCE_VAULT_AUTH_TYPE",
        ),
        Setting("port", "port, when url is a bare host (an Airflow connection's host/port)", kind="int"),
        Setting("namespace", "Vault namespace", env="EVIDENCE_VAULT_NAMESPACE", flags=("--namespace",)),
        Setting("ca_cert", "CA bundle for TLS", env="EVIDENCE_VAULT_CACERT"),
        Setting(
            "kv_mounts",
            "only these KV v2 mounts (repeat; default: every KV v2 mount)",
            env="EVIDENCE_VAULT_KV_MOUNTS",
            flags=("--kv-mount",),
            multiple=True,
        ),
        Setting(
            "max_lease_ttl_hours",
            "longest token/lease TTL an auth method may grant (hours, default 24)",
            env="EVIDENCE_VAULT_MAX_LEASE_TTL_HOURS",
            kind="float",
        ),
        Setting(
            "key_max_age_days",
            "oldest the barrier key may be (days, default 365)",
            env="EVIDENCE_VAULT_KEY_MAX_AGE_DAYS",
            kind="float",
        ),
        Setting(
            "secret_max_age_days",
            "oldest a KV secret's current version may be (days, default 90)",
            env="EVIDENCE_VAULT_SECRET_MAX_AGE_DAYS",
            kind="float",
        ),
        Setting(
            "concurrency",
            "calls in flight per unit",
            env="EVIDENCE_VAULT_CONCURRENCY",
            flags=("--concurrency",),
            kind="int",
        ),
    ),
)


@dataclass(frozen=True)
class VaultConfig:
    url: str
    token: str | None = field(default=None, repr=False)
    role_id: str | None = None
    secret_id: str | None = field(default=None, repr=False)
    approle_mount: str = "approle"
    namespace: str | None = None
    ca_cert: str | None = None
    kv_mounts: tuple[str, ...] = ()
    max_lease_ttl_hours: float = 24.0
    key_max_age_days: float = 365.0
    secret_max_age_days: float = 90.0
    concurrency: int = 8
    timeout: float = 10.0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> VaultConfig:
        settings = dict(settings)
        url = settings.get("url")
        if url and "://" not in str(url):  # an Airflow connection's bare host (and port)
            port = settings.get("port") or 8200
            url = f"https://{url}:{port}"
        # The Airflow Vault connection keeps an AppRole's secret_id in its password field, which
        # the connection mapping hands over as the token: an AppRole has a role_id and no token.
        approle = settings.get("auth_type") == "approle" or (
            settings.get("role_id") and not settings.get("secret_id")
        )
        if approle and settings.get("token") and not settings.get("secret_id"):
            settings["secret_id"], settings["token"] = settings["token"], None
        if not url:
            raise ConfigError(
                "vault: set --url or EVIDENCE_VAULT_ADDR (or the Airflow Vault connection's host)"
            )
        if not settings.get("token") and not (settings.get("role_id") and settings.get("secret_id")):
            raise ConfigError(
                "vault: set a token (EVIDENCE_VAULT_TOKEN) or an AppRole "
                "(EVIDENCE_VAULT_ROLE_ID + EVIDENCE_VAULT_SECRET_ID)"
            )
        mounts = tuple(m.strip("/") + "/" for m in settings.get("kv_mounts") or ())

        def num(name: str, default: float) -> float:
            value = settings.get(name)
            return float(value) if value is not None else default

        return cls(
            url=str(url).rstrip("/"),
            token=settings.get("token"),
            role_id=settings.get("role_id"),
            secret_id=settings.get("secret_id"),
            approle_mount=str(settings.get("approle_mount") or "approle"),
            namespace=settings.get("namespace"),
            ca_cert=settings.get("ca_cert"),
            kv_mounts=mounts,
            max_lease_ttl_hours=num("max_lease_ttl_hours", 24.0),
            key_max_age_days=num("key_max_age_days", 365.0),
            secret_max_age_days=num("secret_max_age_days", 90.0),
            concurrency=int(settings.get("concurrency") or 8),
        )


def _error_text(body: Any, fallback: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return one_line("; ".join(str(e) for e in body["errors"]))
    return one_line(fallback)


class VaultRecorder(CallRecorder):
    """Makes one Vault API call through hvac's adapter, logs it, and sorts the answer."""

    def call(self, client: Any, api: ApiPermission, path: str, method: str = "GET") -> Outcome:
        import requests

        params = scrub({"path": path}, _VAULT_SECRET)
        try:
            response = client.adapter.request(method, f"/v1/{path.lstrip('/')}", raise_exception=False)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            self.record(
                ApiCall(service=api.service, operation=api.operation, params=params, error_code="Unreachable")
            )
            reason = type(exc).__name__
            return Failed(
                "unreachable",
                SourceError(
                    code="Unreachable", message=f"Vault did not answer ({reason})", operation=api.key
                ),
            )
        status = response.status_code
        try:
            body: Any = response.json() if response.content else {}
        except ValueError:
            body = None
        request_id = body.get("request_id") if isinstance(body, dict) else None
        ok = 200 <= status < 300
        error_code = None if ok else f"HTTP{status}"
        if ok and body is None:
            error_code = "MalformedResponse"
        self.record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                params=params,
                http_status=status,
                request_id=request_id or None,
                error_code=error_code,
            )
        )
        if ok:
            if body is None:
                return Failed(
                    "client_error",
                    SourceError(
                        code="MalformedResponse", message="the answer is not JSON", operation=api.key
                    ),
                )
            return Found(body)
        if str(status) in api.not_found_codes:
            return Absent(str(status))
        message = _error_text(body, response.reason or f"HTTP {status}")
        if status == 403:
            return Failed(
                "access_denied",
                SourceError(
                    code="PermissionDenied",
                    message=f"{message} ({method} {path})",
                    operation=api.key,
                    permission=api.permission,
                ),
            )
        if status == 503:
            return Failed(
                "unavailable",
                SourceError(code="Sealed", message=f"Vault answered 503: {message}", operation=api.key),
            )
        kind = "throttled" if status == 429 else "unavailable" if status >= 500 else "client_error"
        return Failed(kind, SourceError(code=f"HTTP{status}", message=message, operation=api.key))  # type: ignore[arg-type]


@dataclass
class VaultRun:
    """One collection's state: the hvac client (logged in once, for AppRole)."""

    config: VaultConfig
    _client: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    login_error: SourceError | None = None

    @property
    def concurrency(self) -> int:
        return self.config.concurrency

    def client(self, recorder: VaultRecorder) -> Any:
        with self._lock:
            if self._client is None:
                import hvac
                from hvac.adapters import RawAdapter

                cfg = self.config
                client = hvac.Client(
                    url=cfg.url,
                    token=cfg.token,
                    namespace=cfg.namespace,
                    verify=cfg.ca_cert or True,
                    timeout=cfg.timeout,
                    adapter=RawAdapter,
                )
                if not cfg.token and cfg.role_id and cfg.secret_id:
                    self.login_error = _approle_login(client, cfg, recorder)
                self._client = client
            return self._client


def _approle_login(client: Any, cfg: VaultConfig, recorder: VaultRecorder) -> SourceError | None:
    """Log in with AppRole; the call is logged without its body (the secret_id)."""
    import requests

    api = ApiPermission(
        "auth", f"POST /v1/auth/{cfg.approle_mount}/login", f"auth/{cfg.approle_mount}/login:read"
    )
    try:
        response = client.adapter.post(
            f"/v1/auth/{cfg.approle_mount}/login",
            json={"role_id": cfg.role_id, "secret_id": cfg.secret_id},
            raise_exception=False,
        )
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
        return None  # connect's health check names the unreachable server
    body = response.json() if response.content else {}
    recorder.record(
        ApiCall(
            service=api.service,
            operation=api.operation,
            params={"path": f"auth/{cfg.approle_mount}/login"},
            http_status=response.status_code,
            request_id=body.get("request_id") if isinstance(body, dict) else None,
            error_code=None if response.ok else f"HTTP{response.status_code}",
        )
    )
    if not response.ok:
        return SourceError(
            code="LoginFailed",
            message=f"AppRole login refused: {_error_text(body, response.reason or '')}",
            operation=api.key,
        )
    client.token = body["auth"]["client_token"]
    return None


@dataclass(frozen=True)
class VaultConnection:
    client: Any
    config: VaultConfig
    health: dict[str, Any]


class VaultFamily(Family[VaultConnection]):
    name = "vault"
    title = "HashiCorp Vault / OpenBao"
    connection = VAULT_CONNECTION
    permission_model = VaultPolicy()
    modules = ("collectors.vault.kv", "collectors.vault.sys")
    framework_permissions = (LOOKUP_SELF.permission,)
    parallel_units = 2

    def configure(self, settings: Mapping[str, Any]) -> VaultConfig:
        return VaultConfig.from_mapping(settings)

    def plan(
        self,
        config: VaultConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        units = []
        for source in chosen:
            own = tuple(t for t in only if t.startswith(source.name + "."))
            units.append(Unit(self.name, source.name, (("vault", config.url),), own))
        return units

    def open(self, config: VaultConfig) -> VaultRun:
        return VaultRun(config)

    def recorder(self) -> VaultRecorder:
        return VaultRecorder()

    def connect(self, opened: VaultRun, unit: Unit, recorder: Any) -> tuple[VaultConnection, dict[str, str]]:
        cfg = opened.config
        target = {"vault": cfg.url}
        client = opened.client(recorder)
        # sys/health answers 200 active, 429 standby, 472/473 DR/performance standby, 501 not
        # initialised, 503 sealed: all of them are "reachable", so none is an Absent or a failure here.
        health_api = ApiPermission(
            "sys", HEALTH, "sys/health:read", not_found_codes=("429", "472", "473", "501", "503")
        )
        outcome = recorder.call(client, health_api, "sys/health")
        if isinstance(outcome, Failed):
            raise TargetUnavailable(target, outcome.error)
        health: dict[str, Any] = {}
        if isinstance(outcome, Found) and isinstance(outcome.value, dict):
            health = outcome.value
        elif isinstance(outcome, Absent):
            code = outcome.code
            if code in ("501", "503"):
                what = "not initialised" if code == "501" else "sealed"
                raise TargetUnavailable(
                    target,
                    SourceError(
                        code="Sealed" if code == "503" else "NotInitialized",
                        message=f"Vault at {cfg.url} is {what} (sys/health answered {code})",
                        operation=health_api.key,
                    ),
                )
            health = {"standby": True, "health_code": int(code)}
        if opened.login_error is not None:
            raise TargetUnavailable(target, opened.login_error)
        who = recorder.call(client, LOOKUP_SELF, "auth/token/lookup-self")
        if isinstance(who, Failed):
            error = who.error
            if who.kind == "access_denied":
                error = SourceError(
                    code="TokenRejected",
                    message=(
                        "Vault rejected the collector's token on auth/token/lookup-self "
                        f"(expired, revoked or invalid): {error.message}"
                    ),
                    operation=error.operation,
                    permission=LOOKUP_SELF.permission,
                )
            raise TargetUnavailable(target, error)
        if health.get("cluster_name"):
            target["cluster"] = str(health["cluster_name"])
        return VaultConnection(client, cfg, health), target

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.vault.demo import demo_estate

        return demo_estate()


VAULT = VaultFamily()

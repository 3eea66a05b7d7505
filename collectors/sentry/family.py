"""The Sentry collector family: one Sentry organization per collection, through its Web API.

A unit is one source for one organization: ``sentry.org`` (security and privacy settings, teams) and
``sentry.projects`` (client keys, event volume, alert rules, grouping). ``connect`` reads the
organization (``GET /api/0/organizations/{org}/``): a rejected token (401) or a token without
``org:read`` (403) makes every evidence type of the unit an ``error`` record naming it.

The client is a small one on ``requests`` (already installed with hvac): a bearer token, cursor
pagination through the ``Link`` header (``rel="next"; results="true"``), 429 answered by waiting the
``Retry-After`` seconds (bounded: at most ``max_retry_wait`` seconds per wait and ``max_retries``
retries, then an ``error``), 401/403 sorted as access denied with the scope the call needs, and an
answer that is not JSON as ``MalformedResponse``. The permission model is Sentry's token scopes;
``evidence policy sentry`` prints the scopes a token needs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from collectors.core import Absent, CallRecorder, Failed, Found, Outcome, TargetUnavailable, one_line
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

READ_SCOPES = frozenset({"org:read", "project:read", "team:read", "member:read", "alerts:read", "event:read"})
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next";\s*results="(true|false)";\s*cursor="([^"]*)"')
CANARY_SOURCE = "sentry.canary"
MAX_PAGES = 1000  # a guard against a server whose cursor never ends

ORG = ApiPermission("organizations", "GET /api/0/organizations/{org}/", "org:read")


class SentryScopes:
    """Sentry API token scopes (``project:read``); the "policy" is the scope list a token needs."""

    name = "Sentry token scopes"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return (
            None
            if permission in READ_SCOPES
            else f"not a read-only Sentry scope ({', '.join(sorted(READ_SCOPES))})"
        )

    def render(self, permissions: Sequence[str]) -> str:
        doc = {
            "token_scopes": sorted(set(permissions)),
            "note": "an internal integration or personal token with exactly these scopes (read-only)",
        }
        return json.dumps(doc, indent=2) + "\n"


SENTRY_CONNECTION = ConnectionSpec(
    conn_type="http",
    default_conn_id="sentry_default",
    description=(
        "the Sentry Web API: host (default https://sentry.io), password = an auth token with the scopes "
        "`evidence policy sentry` prints; extra: organization"
    ),
    settings=(
        Setting(
            "url", "Sentry base URL (default https://sentry.io)", env="EVIDENCE_SENTRY_URL", flags=("--url",)
        ),
        Setting("organization", "organization slug", env="EVIDENCE_SENTRY_ORG", flags=("--organization",)),
        Setting("token", "auth token (bearer)", env="EVIDENCE_SENTRY_TOKEN", secret=True),
        Setting(
            "event_window_days",
            "a project must have received events within this many days (default 7)",
            env="EVIDENCE_SENTRY_EVENT_WINDOW_DAYS",
            kind="int",
        ),
        Setting(
            "canary_projects",
            "projects to send a canary event to (source sentry.canary; off when empty)",
            env="EVIDENCE_SENTRY_CANARY_PROJECTS",
            flags=("--canary-project",),
            multiple=True,
        ),
        Setting(
            "max_retry_wait",
            "longest Retry-After (seconds) the collector waits on a 429 (default 30)",
            env="EVIDENCE_SENTRY_MAX_RETRY_WAIT",
            kind="float",
        ),
        Setting(
            "concurrency",
            "calls in flight per unit",
            env="EVIDENCE_SENTRY_CONCURRENCY",
            flags=("--concurrency",),
            kind="int",
        ),
    ),
)


@dataclass(frozen=True)
class SentryConfig:
    url: str
    organization: str
    token: str | None = field(default=None, repr=False)
    event_window_days: int = 7
    max_retry_wait: float = 30.0
    max_retries: int = 3
    concurrency: int = 8
    timeout: float = 15.0
    canary_projects: tuple[str, ...] = ()
    canary_timeout: float = 30.0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> SentryConfig:
        if not settings.get("organization"):
            raise ConfigError("sentry: set --organization or EVIDENCE_SENTRY_ORG")
        if not settings.get("token"):
            raise ConfigError("sentry: set EVIDENCE_SENTRY_TOKEN (or the connection's password)")
        url = str(settings.get("url") or "https://sentry.io").rstrip("/")
        wait = settings.get("max_retry_wait")
        if "://" not in url:
            url = f"https://{url}"
        return cls(
            url=url,
            organization=str(settings["organization"]),
            token=str(settings["token"]),
            event_window_days=int(settings.get("event_window_days") or 7),
            max_retry_wait=float(wait) if wait is not None else 30.0,
            concurrency=int(settings.get("concurrency") or 8),
            canary_projects=tuple(str(p) for p in settings.get("canary_projects") or ()),
        )


@dataclass
class SentryClient:
    """A requests session with the token, the base URL and the retry bounds."""

    config: SentryConfig
    session: Any

    @classmethod
    def build(cls, config: SentryConfig) -> SentryClient:
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {config.token}"
        session.headers["Accept"] = "application/json"
        return cls(config, session)


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text or response.reason or "")
    if isinstance(body, dict) and body.get("detail"):
        return one_line(str(body["detail"]))
    return one_line(response.reason or f"HTTP {response.status_code}")


class SentryRecorder(CallRecorder):
    """Makes Sentry API calls (each page, each retry is logged) and sorts the answers."""

    def _request(
        self, client: SentryClient, api: ApiPermission, path: str, params: Mapping[str, Any]
    ) -> tuple[Any, int]:
        """One page: the response (or the failure) after bounded 429 retries, and the attempts."""
        import requests

        cfg = client.config
        url = path if path.startswith("http") else cfg.url + path
        attempts = 0
        while True:
            attempts += 1
            try:
                response = client.session.get(url, params=dict(params), timeout=cfg.timeout)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                return Failed(
                    "unreachable",
                    SourceError(
                        code="Unreachable",
                        message=f"Sentry did not answer ({type(exc).__name__})",
                        operation=api.key,
                    ),
                ), attempts
            if response.status_code != 429 or attempts > cfg.max_retries:
                return response, attempts
            wait = _retry_after(response.headers.get("Retry-After"))
            if wait is None or wait > cfg.max_retry_wait:
                return response, attempts
            self._log(api, path, params, response, attempts)
            time.sleep(wait)

    def _log(
        self, api: ApiPermission, path: str, params: Mapping[str, Any], response: Any, attempts: int
    ) -> None:
        self.record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                params={
                    "path": path.split("?")[0].removeprefix("http://").removeprefix("https://"),
                    **{k: str(v) for k, v in params.items()},
                },
                http_status=response.status_code,
                request_id=response.headers.get("X-Request-Id")
                or response.headers.get("X-Sentry-Request-Id"),
                error_code=None if response.ok else f"HTTP{response.status_code}",
                attempts=attempts,
            )
        )

    def get(
        self,
        client: SentryClient,
        api: ApiPermission,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        paginate: bool = False,
    ) -> Outcome:
        """GET ``path``; with ``paginate``, every page (a list) through the Link header's next cursor."""
        items: list[Any] = []
        query = dict(params or {})
        for _ in range(MAX_PAGES):
            answer, attempts = self._request(client, api, path, query)
            if isinstance(answer, Failed):
                self.record(
                    ApiCall(
                        service=api.service,
                        operation=api.operation,
                        params={"path": path},
                        error_code="Unreachable",
                        attempts=attempts,
                    )
                )
                return answer
            response = answer
            self._log(api, path, query, response, attempts)
            if not response.ok:
                return self._failure(api, path, response)
            try:
                body = response.json()
            except ValueError:
                return Failed(
                    "client_error",
                    SourceError(
                        code="MalformedResponse",
                        message=f"the answer to GET {path} is not JSON: {one_line(response.text, 120)}",
                        operation=api.key,
                    ),
                )
            if not paginate:
                return Found(body)
            if not isinstance(body, list):
                return Failed(
                    "client_error",
                    SourceError(
                        code="MalformedResponse",
                        message=f"GET {path} did not answer a list",
                        operation=api.key,
                    ),
                )
            items.extend(body)
            cursor = next_cursor(response.headers.get("Link"))
            if cursor is None:
                return Found(items)
            query["cursor"] = cursor
        return Failed(
            "client_error",
            SourceError(
                code="PaginationRunaway", message=f"more than {MAX_PAGES} pages at {path}", operation=api.key
            ),
        )

    def _failure(self, api: ApiPermission, path: str, response: Any) -> Outcome:
        status = response.status_code
        if str(status) in api.not_found_codes:
            return Absent(str(status))
        detail = _detail(response)
        if status == 401:
            return Failed(
                "access_denied",
                SourceError(
                    code="Unauthorized",
                    message=f"token rejected (invalid, revoked or expired): {detail}",
                    operation=api.key,
                ),
            )
        if status == 403:
            return Failed(
                "access_denied",
                SourceError(
                    code="Forbidden",
                    message=f"{detail} (GET {path} needs the {api.permission} scope)",
                    operation=api.key,
                    permission=api.permission,
                ),
            )
        if status == 429:
            wait = response.headers.get("Retry-After")
            return Failed(
                "throttled",
                SourceError(
                    code="Throttled",
                    message=f"still rate limited after retries (Retry-After {wait})",
                    operation=api.key,
                ),
            )
        kind = "unavailable" if status >= 500 else "client_error"
        return Failed(kind, SourceError(code=f"HTTP{status}", message=detail, operation=api.key))  # type: ignore[arg-type]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return None  # an HTTP date: not waited for (bounded retries only on seconds)


def next_cursor(link: str | None) -> str | None:
    """The next page's cursor from a Sentry ``Link`` header, or None on the last page."""
    for match in _NEXT.finditer(link or ""):
        if match.group(2) == "true":
            return match.group(3)
    return None


@dataclass(frozen=True)
class SentryConnection:
    client: SentryClient
    config: SentryConfig
    organization: dict[str, Any]


class SentryFamily(Family[SentryConnection]):
    name = "sentry"
    title = "Sentry"
    connection = SENTRY_CONNECTION
    permission_model = SentryScopes()
    modules = ("collectors.sentry.org", "collectors.sentry.projects", "collectors.sentry.canary")
    framework_permissions = (ORG.permission,)
    parallel_units = 2

    def configure(self, settings: Mapping[str, Any]) -> SentryConfig:
        return SentryConfig.from_mapping(settings)

    def plan(
        self,
        config: SentryConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        if not config.canary_projects:  # the canary sends events: only to projects named for it
            chosen = [s for s in chosen if s.name != CANARY_SOURCE]
        return [
            Unit(
                self.name,
                s.name,
                (("organization", config.organization),),
                tuple(t for t in only if t.startswith(s.name + ".")),
            )
            for s in chosen
        ]

    def open(self, config: SentryConfig) -> SentryClient:
        return SentryClient.build(config)

    def concurrency(self, opened: Any) -> int:
        return int(opened.config.concurrency)

    def recorder(self) -> SentryRecorder:
        return SentryRecorder()

    def connect(
        self, opened: SentryClient, unit: Unit, recorder: Any
    ) -> tuple[SentryConnection, dict[str, str]]:
        cfg = opened.config
        target = {"sentry": cfg.url, "organization": cfg.organization}
        outcome = recorder.get(opened, ORG, f"/api/0/organizations/{cfg.organization}/")
        if isinstance(outcome, Failed):
            raise TargetUnavailable(target, outcome.error)
        if not isinstance(outcome, Found) or not isinstance(outcome.value, dict):
            raise TargetUnavailable(
                target,
                SourceError(
                    code="NotFound", message=f"no organization {cfg.organization!r}", operation=ORG.key
                ),
            )
        return SentryConnection(opened, cfg, outcome.value), target

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.sentry.demo import demo_estate

        return demo_estate()

    def commands(self) -> Sequence[tuple[str, Any]]:
        from collectors.sentry.cli import sentry_app

        return (("sentry", sentry_app()),)


SENTRY = SentryFamily()

"""The widgets family: one unit per site of a widget inventory API (``GET /sites/<site>/widgets``,
``GET /widgets/<id>``), authenticated with a bearer token that has scopes."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.core import Absent, CallRecorder, Failed, Found, Outcome, TargetUnavailable, one_line
from collectors.core.family import Family
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

_SCOPE = re.compile(r"[a-z]+:(read|list)")


class ScopePermissions:
    """Token scopes (``widgets:read``); the "policy" is the scope list a token must carry."""

    name = "API token scopes"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return None if _SCOPE.fullmatch(permission) else "not a read-only scope (resource:read|list)"

    def render(self, permissions: Sequence[str]) -> str:
        return json.dumps({"token_scopes": sorted(set(permissions))}, indent=2) + "\n"


@dataclass(frozen=True)
class WidgetConfig:
    url: str
    sites: tuple[str, ...]
    token: str | None = None
    concurrency: int = 4


class WidgetRecorder(CallRecorder):
    def get(self, config: WidgetConfig, api: ApiPermission, path: str) -> Outcome:
        request = urllib.request.Request(config.url.rstrip("/") + path)
        if config.token:
            request.add_header("Authorization", f"Bearer {config.token}")
        status: int | None = None
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = response.status
                body = json.loads(response.read())
                self.record(
                    ApiCall(
                        service=api.service,
                        operation=api.operation,
                        params={"path": path},
                        http_status=status,
                        request_id=response.headers.get("X-Request-Id"),
                    )
                )
                return Found(body)
        except urllib.error.HTTPError as exc:
            status = exc.code
            self.record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    params={"path": path},
                    http_status=status,
                    error_code=str(status),
                )
            )
            if str(status) in api.not_found_codes:
                return Absent(str(status))
            kind = (
                "access_denied"
                if status in (401, 403)
                else "throttled"
                if status == 429
                else ("unavailable" if status >= 500 else "client_error")
            )
            return Failed(
                kind,
                SourceError(  # type: ignore[arg-type]
                    code=f"HTTP{status}",
                    message=one_line(exc.reason or ""),
                    operation=api.key,
                    permission=api.permission if status == 403 else None,
                ),
            )
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            self.record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    params={"path": path},
                    error_code=type(exc).__name__,
                )
            )
            return Failed(
                "unreachable",
                SourceError(code=type(exc).__name__, message=one_line(str(exc)), operation=api.key),
            )


class WidgetFamily(Family[WidgetConfig]):
    name = "widgets"
    title = "Widget inventory (test family)"
    connection = ConnectionSpec(
        conn_type="http",
        default_conn_id="widgets_default",
        description="a widget inventory API with a bearer token",
        settings=(
            Setting("url", "base URL of the inventory API", env="EVIDENCE_WIDGETS_URL", flags=("--url",)),
            Setting(
                "sites",
                "site to collect (repeat)",
                env="EVIDENCE_WIDGETS_SITES",
                flags=("--site",),
                multiple=True,
            ),
            Setting("token", "bearer token", env="EVIDENCE_WIDGETS_TOKEN", secret=True),
        ),
    )
    permission_model = ScopePermissions()
    modules = ("tests.support.widget_family.inventory",)
    schema_root = Path(__file__).parent
    framework_permissions = ("sites:read",)

    def configure(self, settings: Mapping[str, Any]) -> WidgetConfig:
        from evidence.errors import ConfigError

        if not settings.get("url"):
            raise ConfigError("widgets: set --url or EVIDENCE_WIDGETS_URL")
        return WidgetConfig(
            url=settings["url"], sites=tuple(settings.get("sites") or ("main",)), token=settings.get("token")
        )

    def plan(
        self,
        config: WidgetConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [Unit(self.name, s.name, (("site", site),), only) for s in chosen for site in config.sites]

    def recorder(self) -> WidgetRecorder:
        return WidgetRecorder()

    def connect(self, opened: WidgetConfig, unit: Unit, recorder: Any) -> tuple[WidgetConfig, dict[str, str]]:
        site = unit.scope_dict["site"]
        outcome = recorder.get(
            opened, ApiPermission("sites", "GET /sites/{site}", "sites:read"), f"/sites/{site}"
        )
        if isinstance(outcome, Failed):
            raise TargetUnavailable({"site": site}, outcome.error)
        return opened, {"site": site}

    def demo(self) -> AbstractContextManager[DemoEstate]:
        return _demo()


@contextmanager
def _demo() -> Iterator[DemoEstate]:
    from tests.support.widget_family.server import WidgetServer

    with WidgetServer() as server:
        yield DemoEstate(
            settings={"url": server.url, "sites": ["main"]}, description=f"widget API on {server.url}"
        )


WIDGETS = WidgetFamily()

"""The Airflow plugin (entry point ``airflow.plugins``: ``compliance``): the Compliance web app under
``/compliance`` and its entries in the UI's navigation.

Every Airflow process imports its plugins, so this module imports nothing heavy: the web app (FastAPI
routes, templates, the evidence core) is built by the api-server on its first request.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/compliance"


class ComplianceApp:
    """An ASGI app that builds ``plugins.compliance.app.create_app()`` on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from plugins.compliance.app import create_app

                self._app = create_app()
            return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app or self._build()
        await app(scope, receive, send)


def _view(name: str, path: str, route: str) -> dict[str, Any]:
    return {
        "name": name,
        "href": f"{URL_PREFIX}{path}",
        "url_route": route,
        "category": "Compliance",
        "destination": "nav",
    }


class CompliancePlugin(AirflowPlugin):
    name = "compliance"
    fastapi_apps = [{"app": ComplianceApp(), "url_prefix": URL_PREFIX, "name": "Compliance"}]
    external_views = [
        _view("Posture", "/", "compliance"),
        _view("Evidence", "/evidence", "compliance-evidence"),
        _view("Exceptions", "/exceptions", "compliance-exceptions"),
        _view("Reminders", "/reminders", "compliance-reminders"),
        _view("Attest", "/attest", "compliance-attest"),
        _view("DR drills", "/drills", "compliance-drills"),
        _view("Auditor bundle", "/bundle", "compliance-bundle"),
    ]

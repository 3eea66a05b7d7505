"""A collector family's settings from an Airflow connection, with the family's own precedence:
task params > the connection (its extra, and the fields the family maps) > the environment.

Credentials a family reads are masked in Airflow's logs (``mask_secret``) before anything else runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from evidence.family import CollectorFamily

log = logging.getLogger(__name__)

# Airflow connection fields -> the setting they feed, when the family declares that setting.
_FIELD_SETTINGS = {
    "host": ("url", "address", "endpoint_url", "host"),
    "login": ("aws_access_key_id", "login", "user", "username", "role_id"),
    "password": ("aws_secret_access_key", "password", "token", "secret_id"),
    "port": ("port",),
    "schema": ("database", "schema"),
}


def connection_settings(family: CollectorFamily, conn_id: str | None) -> dict[str, Any]:
    """What the connection ``conn_id`` says, in the family's setting names (empty when unset)."""
    if not conn_id:
        return {}
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - Airflow raises its own not-found type per version
        log.warning("connection %r not found (%s); using the environment", conn_id, type(exc).__name__)
        return {}
    declared = {s.name: s for s in family.connection.settings}
    settings: dict[str, Any] = {}
    for attribute, candidates in _FIELD_SETTINGS.items():
        value = getattr(conn, attribute, None)
        if value in (None, ""):
            continue
        name = next((c for c in candidates if c in declared), None)
        if name is not None:
            settings[name] = value
    extra = conn.extra_dejson or {}
    for key, value in extra.items():
        if key in declared or key in ("region_name",):
            settings[key] = value
    _mask(family, settings)
    return settings


def _mask(family: CollectorFamily, settings: Mapping[str, Any]) -> None:
    from airflow.sdk.log import mask_secret

    for setting in family.connection.settings:
        if setting.secret and settings.get(setting.name):
            mask_secret(str(settings[setting.name]))


def family_config(family: CollectorFamily, conn_id: str | None, params: Mapping[str, Any]) -> Any:
    """The family's configuration: params on top of the connection on top of the environment."""
    layered = family.connection.resolve(connection_settings(family, conn_id), params)
    _mask(family, layered)
    return family.configure(layered)

"""The pgBackRest collector family: one unit per stanza of a repository host.

``connect`` finds the ``pgbackrest`` program; each unit reads its stanza once (``info``, ``check``,
the archive listing and the configuration file) and maps it into the stanza's evidence types.

Permission model: what the collector's OS account must be able to do with pgBackRest
(``pgbackrest:<command>``: ``info``, ``check``, ``repo_ls``, ``read_config``). The rendered policy
lists them with the grant each needs (membership of the repository's group, read access to the
configuration, and for ``check`` a database login with ``pg_monitor`` and the right to switch WAL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from collectors.core import TargetUnavailable
from collectors.core.commands import CommandRecorder, installed
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import SourceError

_PERMISSION = re.compile(r"pgbackrest:(info|check|repo_ls|read_config)")
GRANTS = {
    "pgbackrest:info": "run `pgbackrest info` (read the repository: member of its owner's group)",
    "pgbackrest:check": "run `pgbackrest check` (a database login with pg_monitor and pg_switch_wal())",
    "pgbackrest:repo_ls": "run `pgbackrest repo-ls` on the WAL archive (repository read)",
    "pgbackrest:read_config": "read pgbackrest.conf (retention, cipher type; never the passphrase)",
}


class PgBackRestPermissions:
    name = "pgBackRest commands"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return (
            None if _PERMISSION.fullmatch(permission) else "not pgbackrest:<info|check|repo_ls|read_config>"
        )

    def render(self, permissions: Sequence[str]) -> str:
        doc = {"os_account": {p: GRANTS[p] for p in sorted(set(permissions))}}
        return json.dumps(doc, indent=2) + "\n"


@dataclass(frozen=True)
class PgBackRestConfig:
    stanzas: tuple[str, ...]
    config: str | None = None  # pgbackrest.conf; None: pgBackRest's default
    user: str | None = None  # run as this OS user (the repository owner) when root
    max_backup_age_hours: float = 26.0
    min_retention_full: int = 2
    concurrency: int = 1


class PgBackRestFamily(Family[PgBackRestConfig]):
    name = "pgbackrest"
    title = "pgBackRest"
    connection = ConnectionSpec(
        conn_type="generic",
        default_conn_id="pgbackrest_default",
        description="the pgBackRest configuration and stanzas on this host (extra: stanzas, config, user)",
        settings=(
            Setting(
                "stanzas",
                "stanza to collect (repeat)",
                env="EVIDENCE_PGBACKREST_STANZAS",
                flags=("--stanza",),
                multiple=True,
            ),
            Setting("config", "pgbackrest.conf path", env="EVIDENCE_PGBACKREST_CONFIG", flags=("--config",)),
            Setting(
                "user",
                "OS user that runs pgbackrest (the repository owner) when root",
                env="EVIDENCE_PGBACKREST_USER",
                flags=("--user",),
            ),
            Setting(
                "max_backup_age_hours",
                "newest backup may be this old",
                env="EVIDENCE_PGBACKREST_MAX_AGE_HOURS",
                flags=("--max-backup-age-hours",),
                kind="float",
            ),
            Setting(
                "min_retention_full",
                "full backups retention must be at least this",
                env="EVIDENCE_PGBACKREST_MIN_RETENTION_FULL",
                flags=("--min-retention-full",),
                kind="int",
            ),
        ),
    )
    permission_model = PgBackRestPermissions()
    modules = ("collectors.pgbackrest.stanza",)
    framework_permissions = ("pgbackrest:info",)

    def configure(self, settings: Mapping[str, Any]) -> PgBackRestConfig:
        stanzas = tuple(settings.get("stanzas") or ())
        if not stanzas:
            raise ConfigError("pgbackrest: name a stanza (--stanza or EVIDENCE_PGBACKREST_STANZAS)")
        return PgBackRestConfig(
            stanzas=stanzas,
            config=settings.get("config"),
            user=settings.get("user"),
            max_backup_age_hours=float(settings.get("max_backup_age_hours") or 26.0),
            min_retention_full=int(settings.get("min_retention_full") or 2),
        )

    def plan(
        self,
        config: PgBackRestConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [Unit(self.name, s.name, (("stanza", st),), only) for s in chosen for st in config.stanzas]

    def recorder(self) -> CommandRecorder:
        return CommandRecorder()

    def connect(
        self, opened: PgBackRestConfig, unit: Unit, recorder: Any
    ) -> tuple[PgBackRestConfig, dict[str, str]]:
        stanza = unit.scope_dict["stanza"]
        if not installed("pgbackrest"):
            raise TargetUnavailable(
                {"stanza": stanza},
                SourceError(code="ToolNotFound", message="pgbackrest is not installed on this host"),
            )
        return opened, {"stanza": stanza}

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.pgbackrest.demo import demo_estate

        return demo_estate()


PGBACKREST = PgBackRestFamily()

"""The restic collector family: one unit per repository.

Each unit reads its repository once (``restic snapshots``, ``restic check``, ``restic cat config``
and the repository's raw config file) and maps it into snapshot freshness, the check outcome and
encryption. The password comes from a file or the environment, never a command line or evidence.

Permission model: repository access (``repo:read``: list and read objects, the password; ``restic
check`` takes no exclusive lock). The policy names what to grant the collector's account.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.core import TargetUnavailable
from collectors.core.commands import CommandRecorder, installed
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import SourceError

_PERMISSION = re.compile(r"repo:(read)")


class ResticPermissions:
    name = "restic repository access"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return None if _PERMISSION.fullmatch(permission) else "not repo:read"

    def render(self, permissions: Sequence[str]) -> str:
        grants = {
            "repo:read": "read every object of the repository (list, get) and its password file; no write, "
            "no delete: snapshots, check (--no-lock) and cat config only read"
        }
        return (
            json.dumps({"repository_access": {p: grants[p] for p in sorted(set(permissions))}}, indent=2)
            + "\n"
        )


@dataclass(frozen=True)
class ResticConfig:
    repositories: tuple[str, ...]
    password_file: str | None = None
    password: str | None = None
    max_snapshot_age_hours: float = 26.0
    concurrency: int = 1

    def environ(self, repository: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_REPOSITORY"] = repository
        env.setdefault("RESTIC_CACHE_DIR", str(Path(tempfile.gettempdir()) / "evidence-restic-cache"))
        if self.password_file:
            env["RESTIC_PASSWORD_FILE"] = self.password_file
        if self.password:
            env["RESTIC_PASSWORD"] = self.password
        return env


class ResticFamily(Family[ResticConfig]):
    name = "restic"
    title = "restic"
    connection = ConnectionSpec(
        conn_type="generic",
        default_conn_id="restic_default",
        description="restic repositories and the password (file) that opens them",
        settings=(
            Setting(
                "repositories",
                "repository (repeat)",
                env="EVIDENCE_RESTIC_REPOSITORIES",
                flags=("--repository",),
                multiple=True,
            ),
            Setting(
                "password_file",
                "file holding the repository password",
                env="EVIDENCE_RESTIC_PASSWORD_FILE",
                flags=("--password-file",),
            ),
            Setting("password", "repository password", env="EVIDENCE_RESTIC_PASSWORD", secret=True),
            Setting(
                "max_snapshot_age_hours",
                "newest snapshot may be this old",
                env="EVIDENCE_RESTIC_MAX_AGE_HOURS",
                flags=("--max-snapshot-age-hours",),
                kind="float",
            ),
        ),
    )
    permission_model = ResticPermissions()
    modules = ("collectors.restic.repository",)

    def configure(self, settings: Mapping[str, Any]) -> ResticConfig:
        repos = tuple(settings.get("repositories") or ())
        if not repos:
            raise ConfigError("restic: name a repository (--repository or EVIDENCE_RESTIC_REPOSITORIES)")
        return ResticConfig(
            repositories=repos,
            password_file=settings.get("password_file"),
            password=settings.get("password"),
            max_snapshot_age_hours=float(settings.get("max_snapshot_age_hours") or 26.0),
        )

    def plan(
        self,
        config: ResticConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [
            Unit(self.name, s.name, (("repository", r),), only) for s in chosen for r in config.repositories
        ]

    def recorder(self) -> CommandRecorder:
        return CommandRecorder()

    def connect(self, opened: ResticConfig, unit: Unit, recorder: Any) -> tuple[ResticConfig, dict[str, str]]:
        repository = unit.scope_dict["repository"]
        if not installed("restic"):
            raise TargetUnavailable(
                {"repository": repository},
                SourceError(code="ToolNotFound", message="restic is not installed on this host"),
            )
        if not (opened.password_file or opened.password):
            raise TargetUnavailable(
                {"repository": repository},
                SourceError(code="NoPassword", message="no password file or RESTIC_PASSWORD set"),
            )
        return opened, {"repository": repository}

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.restic.demo import demo_estate

        return demo_estate()


RESTIC = ResticFamily()

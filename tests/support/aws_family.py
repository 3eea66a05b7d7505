"""The AWS family collected in-process for tests and benchmarks, in plan order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from collectors.aws import FAMILY
from collectors.aws.client import AwsConfig
from collectors.core.runner import collect_all
from evidence.records import PreparedRecord, RunContext


def collect(
    config: AwsConfig,
    context: RunContext,
    *,
    service_names: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    session: Any = None,
    run_gx: bool = True,
) -> list[PreparedRecord]:
    if session is not None:
        config = replace(config, session=session)
    return collect_all(FAMILY, config, context, sources=service_names, types=types, run_gx=run_gx)

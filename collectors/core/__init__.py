"""The neutral collector core: what every collector family shares, knowing no provider.

- outcomes of a call (``Found`` / ``Absent`` / ``Failed``) and the call log (``CallRecorder``);
- ``Snapshot``: what one source read from one target, at one ``observed_at``;
- ``fan_out``: bounded per-resource reads;
- ``Family`` / ``Source``: the implementation of ``evidence.family.CollectorFamily`` that families
  subclass, and the collect loop (``collectors.core.runner``);
- ``timestamps``: source times made comparable with ``observed_at``.

Nothing here imports an SDK, Airflow, or any family.
"""

from collectors.core.concurrency import fan_out
from collectors.core.family import Family, FetchContext, Source, TargetUnavailable
from collectors.core.outcomes import (
    Absent,
    Failed,
    FailureKind,
    Found,
    Outcome,
    failed_reason,
    uniform_failure,
)
from collectors.core.recording import CallRecorder, one_line, scrub
from collectors.core.snapshot import Snapshot

__all__ = [
    "Absent",
    "CallRecorder",
    "Failed",
    "FailureKind",
    "Family",
    "FetchContext",
    "Found",
    "Outcome",
    "Snapshot",
    "Source",
    "TargetUnavailable",
    "failed_reason",
    "fan_out",
    "one_line",
    "scrub",
    "uniform_failure",
]

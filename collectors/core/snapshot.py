"""What one collector read from one target, once; every evidence type of the source maps it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from collectors.core.outcomes import Outcome, uniform_failure
from evidence.records import SourceError
from evidence.registry import ApiPermission, EvidenceType


@dataclass
class Snapshot:
    """Sources subclass this with the data they read.

    ``observed_at`` is the one time the source's state was read, set by the collect loop (and
    handed to the fetch through its context): the record's ``observed_at`` and every age a mapping
    computes use it.

    Two kinds of failure, so that every resource of a population gets a row:

    - ``failures`` (``fail``): an API whose failure leaves the population unknown (a listing call
      denied): every evidence type that requires it is an ``error`` record naming the permission, with
      no rows, since there is nothing to judge.
    - ``per_resource_failures`` (``fail_per_resource``, ``fail_if_uniform``): a per-resource read that
      failed (for one resource, or for every one the same way). The mapping still runs and gives each
      resource whose read failed an ``error`` row, the others are judged; the record is ``error`` as a
      whole, naming this failure, only when no row could be judged.
    """

    target: dict[str, str]
    observed_at: datetime
    failures: dict[str, SourceError] = field(default_factory=dict)
    per_resource_failures: dict[str, SourceError] = field(default_factory=dict)

    def fail(self, api: ApiPermission, error: SourceError) -> None:
        """The population itself could not be read (a listing): nothing of the type can be judged."""
        self.failures[api.key] = error

    def fail_per_resource(self, api: ApiPermission, error: SourceError) -> None:
        """A per-resource read failed: the mapping gives those resources error rows, judges the rest."""
        self.per_resource_failures[api.key] = error

    def fail_if_uniform(self, api: ApiPermission, outcomes: Iterable[Outcome | None]) -> None:
        """Record ``api``'s failure when every call of it failed the same way (calls not made,
        ``None``, are left out): the record names it when no resource could be judged."""
        failure = uniform_failure([o for o in outcomes if o is not None])
        if failure is not None:
            self.fail_per_resource(api, failure)

    def failure_for(self, etype: EvidenceType) -> SourceError | None:
        """The failure that keeps ``etype`` from being judged at all: a required listing failed."""
        return next(
            (self.failures[a.key] for a in etype.api_calls if a.required and a.key in self.failures),
            None,
        )

    def per_resource_failure_for(self, etype: EvidenceType) -> SourceError | None:
        """A required per-resource read that failed: the record's error when no row was judged."""
        return next(
            (
                self.per_resource_failures[a.key]
                for a in etype.api_calls
                if a.required and a.key in self.per_resource_failures
            ),
            None,
        )

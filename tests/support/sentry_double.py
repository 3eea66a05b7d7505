"""The Sentry Web API double lives in the family as its demo source (``collectors.sentry.demo``);
re-exported here for the tests."""

from collectors.sentry.demo import (
    ALL_SCOPES,
    DSN_SECRET,
    Estate,
    Project,
    SentryDouble,
    compliant_project,
    demo_estate,
    sample_estate,
)

__all__ = [
    "ALL_SCOPES",
    "DSN_SECRET",
    "Estate",
    "Project",
    "SentryDouble",
    "compliant_project",
    "demo_estate",
    "sample_estate",
]

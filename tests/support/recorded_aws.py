"""Recorded AWS answers for unit tests of the AWS collectors: outcomes, a client that replays pages,
and a check that the JSON Schema and the GX suite agree with the rows a mapping produced.

The replaying client stands in for AWS (which cannot run here), not for our code: the collector's own
pagination and error sorting run for real against it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collectors.aws.client import AwsClients, AwsConfig
from collectors.core import Failed
from evidence.records import SourceError
from evidence.registry import ApiPermission

ACCOUNT = "123456789012"
OBSERVED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def target(region: str = "global") -> dict[str, str]:
    return {"account": ACCOUNT, "region": region}


def denied(api: ApiPermission) -> Failed:
    return Failed(
        "access_denied",
        SourceError(
            code="AccessDenied",
            message=f"User: arn:aws:sts::{ACCOUNT}:assumed-role/evidence/collector is not authorized "
            f"to perform: {api.permission}",
            operation=api.key,
            permission=api.permission,
        ),
    )


def client_error(operation: str, code: str, status: int = 400, message: str = "") -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {
            "Error": {"Code": code, "Message": message or code},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1", "RetryAttempts": 0},
        },
        operation,
    )
    return error


def _page(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "req-1", "RetryAttempts": 0}}


class ReplayClient:
    """Answers boto3 calls from recorded pages. ``answers[operation]`` is a list of pages served in
    order, or a function of the request's parameters returning a page (or raising a ClientError)."""

    def __init__(self, answers: dict[str, list[Any] | Callable[..., Any]]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        if operation not in self.answers:
            raise AttributeError(operation)

        def call(**params: Any) -> dict[str, Any]:
            self.requests.append((operation, params))
            answer = self.answers[operation]
            value = answer(**params) if callable(answer) else answer.pop(0)
            if isinstance(value, Exception):
                raise value
            return _page(value)

        return call


class ReplayClients(AwsClients):
    """An ``AwsClients`` whose clients replay recorded pages: one per (service, region)."""

    def __init__(self, clients: dict[tuple[str, str], ReplayClient], regions: tuple[str, ...]) -> None:
        super().__init__(AwsConfig(regions=regions))
        self._replay = clients

    def client(self, service: str, region: str) -> Any:
        return self._replay[(service, region)]


def judge(type_id: str, rows: list[dict[str, Any]]) -> tuple[list[str], bool | None]:
    """(JSON Schema problems, GX success over the readable rows; None when nothing is readable)."""
    from evidence.validation import run_suite, schema_errors

    problems = schema_errors(type_id, {"evidence_type": type_id, "target": target(), "rows": rows})
    readable = [r for r in rows if r["status"] != "error"]
    if not readable:
        return problems, None
    summary, _ = run_suite(type_id, readable)
    return problems, summary.success


def run_fetch(
    fetch: Callable[..., Any],
    clients: Any,
    region: str,
    target: dict[str, str],
    recorder: Any,
    concurrency: int,
    observed_at: Any = None,
) -> Any:
    """Call a service's ``fetch`` the way the collect loop does, with these clients and call region."""
    from collectors.aws.family import AwsTarget
    from collectors.core.family import FetchContext
    from evidence.canonical import utcnow
    from evidence.family import Unit

    scope = (("account", "default"), ("region", target.get("region", region)))
    ctx = FetchContext(
        connection=AwsTarget(clients, region),
        unit=Unit("aws", "aws.test", scope),
        target=target,
        recorder=recorder,
        observed_at=observed_at or utcnow(),
        concurrency=concurrency,
    )
    return fetch(ctx)

"""The AWS boundary: one client factory, one call wrapper that records and sorts every call.

Following Airflow's amazon provider (one base hook, one botocore ``Config``, cached clients) and
Cloud Custodian (each call paired with its IAM permission; errors sorted precisely at the API
boundary). Nothing here runs at import time and no module holds a client.

Outcomes of a call are explicit: ``Found`` (the value), ``Absent`` (the API said the setting does not
exist: a finding, e.g. no default encryption), ``Failed`` (could not read: access denied, throttled
after retries, service unavailable, unreachable, or another AWS error code). Exceptions that are not
AWS's answers (bugs) propagate.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

if TYPE_CHECKING:
    import boto3

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedAccess",
        "Forbidden",
        "403",
        "AllAccessDisabled",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
        "OptInRequired",
    }
)
# Access denied because the credentials are bad, not because a policy lacks an action: such an error
# names no permission (adding one to a policy would not help).
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "503", "500"}
)

T = TypeVar("T")
R = TypeVar("R")

FailureKind = Literal["access_denied", "throttled", "unavailable", "unreachable", "client_error"]

# Parameter names whose values are never recorded (we call read-only metadata APIs, but be sure).
_SECRET_PARAM = re.compile(r"(password|secretstring|secretbinary|privatekey|passphrase|credential)", re.I)


@dataclass(frozen=True)
class Found:
    value: Any


@dataclass(frozen=True)
class Absent:
    """The API answered that the setting or resource does not exist (a declared not-found code)."""

    code: str


@dataclass(frozen=True)
class Failed:
    kind: FailureKind
    error: SourceError


Outcome = Found | Absent | Failed


@dataclass(frozen=True)
class AwsAccount:
    """One account to collect from: the ambient credentials, a named profile, or a role to assume."""

    name: str = "default"
    role_arn: str | None = None
    external_id: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class AwsConfig:
    """How to reach AWS. Precedence (as in Airflow's AWS hook): argument > Airflow connection extra >
    environment (``EVIDENCE_AWS_*``, then boto3's own chain)."""

    regions: tuple[str, ...] = ("us-east-1",)
    accounts: tuple[AwsAccount, ...] = (AwsAccount(),)
    endpoint_url: str | None = None  # an emulator (moto server) or a VPC endpoint
    max_retries: int = 8  # retries after the first attempt (botocore's retries.max_attempts)
    retry_mode: str = "adaptive"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    concurrency: int = 8  # bounded in-flight calls per service collection

    @classmethod
    def from_mapping(cls, extra: Mapping[str, Any]) -> AwsConfig:
        """From an Airflow AWS connection's extra (``endpoint_url``, ``region_name``, ``regions``...)."""
        regions = (
            extra.get("regions")
            or extra.get("region_name")
            or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        )
        if isinstance(regions, str):
            regions = [r.strip() for r in regions.split(",") if r.strip()]
        accounts = tuple(
            AwsAccount(**a) if isinstance(a, Mapping) else AwsAccount(name=str(a), role_arn=str(a))
            for a in extra.get("accounts", [])
        ) or (AwsAccount(),)
        return cls(
            regions=tuple(regions),
            accounts=accounts,
            endpoint_url=extra.get("endpoint_url"),
            max_retries=int(extra.get("max_retries", cls.max_retries)),
            retry_mode=str(extra.get("retry_mode", cls.retry_mode)),
            concurrency=int(extra.get("concurrency", cls.concurrency)),
        )

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> AwsConfig:
        """From ``EVIDENCE_AWS_*`` variables, with ``overrides`` (e.g. a connection's extra) on top."""
        return cls.from_mapping({**env_mapping(), **(overrides or {})})


def env_mapping() -> dict[str, Any]:
    """The collector settings found in the environment, in ``AwsConfig.from_mapping``'s shape."""
    names = {
        "regions": "EVIDENCE_AWS_REGIONS",
        "endpoint_url": "EVIDENCE_AWS_ENDPOINT_URL",
        "concurrency": "EVIDENCE_AWS_CONCURRENCY",
    }
    extra: dict[str, Any] = {key: os.environ[var] for key, var in names.items() if os.environ.get(var)}
    if os.environ.get("EVIDENCE_AWS_ROLE_ARNS"):
        extra["accounts"] = [a for a in os.environ["EVIDENCE_AWS_ROLE_ARNS"].split(",") if a]
    return extra


class AwsClients:
    """Builds and caches boto3 clients for one account: one botocore Config, thread-safe cache.

    boto3 clients are thread-safe; sessions are not, so clients are built under a lock.
    """

    def __init__(
        self, config: AwsConfig, session: boto3.Session | None = None, account: AwsAccount | None = None
    ) -> None:
        self.config = config
        self.account = account or AwsAccount()
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    def _botocore_config(self) -> Any:
        from botocore.config import Config

        emulated = self.config.endpoint_url is not None
        return Config(
            retries={"mode": self.config.retry_mode, "max_attempts": self.config.max_retries},
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
            max_pool_connections=max(10, self.config.concurrency * 2),
            # One endpoint for every service (an emulator or a private endpoint): no per-account host
            # prefixes (s3control's "{AccountId}.host") and path-style S3 addressing.
            inject_host_prefix=not emulated,
            s3={"addressing_style": "path"} if emulated else None,
        )

    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            base = (
                boto3.Session(profile_name=self.account.profile) if self.account.profile else boto3.Session()
            )
            if self.account.role_arn:
                sts = base.client(
                    "sts", endpoint_url=self.config.endpoint_url, config=self._botocore_config()
                )
                params: dict[str, Any] = {
                    "RoleArn": self.account.role_arn,
                    "RoleSessionName": "evidence-collector",
                }
                if self.account.external_id:
                    params["ExternalId"] = self.account.external_id
                creds = sts.assume_role(**params)["Credentials"]
                base = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
            self._session = base
        return self._session

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self.session().client(
                    service,
                    region_name=region,
                    endpoint_url=self.config.endpoint_url,
                    config=self._botocore_config(),
                )
                if self.config.endpoint_url:
                    pin_endpoint(client, self.config.endpoint_url)
                self._clients[key] = client
            return self._clients[key]

    def account_id(self, recorder: CallRecorder | None = None) -> str:
        if self._account_id is None:
            region = self.config.regions[0]
            sts = self.client("sts", region)
            rec = recorder or CallRecorder()
            outcome = rec.call(
                sts, ApiPermission("sts", "get_caller_identity", "sts:GetCallerIdentity"), region
            )
            if isinstance(outcome, Failed):
                from evidence.errors import CollectionError

                raise CollectionError(
                    "sts", outcome.error.code, outcome.error.message, permission=outcome.error.permission
                )
            assert isinstance(outcome, Found)
            self._account_id = str(outcome.value["Account"])
        return self._account_id


def pin_endpoint(client: Any, endpoint_url: str) -> None:
    """Keep every request on ``endpoint_url``. Endpoint rules put labels before the host for some
    services (s3control: ``{AccountId}.host``), which an emulator or a private endpoint cannot serve;
    ``inject_host_prefix=False`` does not cover rule-based prefixes, so strip them. Before signing, not
    before sending: SigV4 signs the host, and an endpoint that checks signatures (a VPC endpoint, moto
    with IAM enforced) refuses a request whose host changed after it was signed."""
    from urllib.parse import urlsplit, urlunsplit

    pinned = urlsplit(endpoint_url)

    def strip_prefix(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != pinned.netloc and parts.netloc.endswith("." + pinned.netloc):
            request.url = urlunsplit(parts._replace(netloc=pinned.netloc))

    client.meta.events.register("before-sign", strip_prefix)


def _scrub(params: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if _SECRET_PARAM.search(key):
            clean[key] = "***"
        elif isinstance(value, str | int | float | bool) or value is None:
            clean[key] = value if not isinstance(value, str) or len(value) <= 256 else value[:253] + "..."
        else:
            clean[key] = repr(value)[:256]
    return clean


_TAG = re.compile(r"<[^>]*>")


def _one_line(message: str, limit: int = 500) -> str:
    """An error message fit for a record: a server's HTML error page (an emulator's 404, a proxy's
    502) becomes its text on one line, bounded."""
    text = " ".join(_TAG.sub(" ", message).split())
    return text[:limit] or "(no message)"


def classify(code: str, http_status: int | None) -> FailureKind:
    if code in ACCESS_DENIED_CODES or http_status in (401, 403):
        return "access_denied"
    if code in THROTTLING_CODES or http_status == 429:
        return "throttled"
    if code in UNAVAILABLE_CODES or (http_status is not None and http_status >= 500):
        return "unavailable"
    return "client_error"


@dataclass
class CallRecorder:
    """Makes calls for a collector and keeps the log: service, operation, params, region, request id,
    HTTP status, attempts (botocore's own retries included)."""

    calls: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _record(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def call(self, client: Any, api: ApiPermission, region: str | None, **params: Any) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
        from botocore.parsers import ResponseParserError  # not a BotoCoreError

        try:
            response = getattr(client, api.operation)(**params)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            code = str(err.get("Code") or meta.get("HTTPStatusCode") or "Unknown")
            status = meta.get("HTTPStatusCode")
            self._record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    region=region,
                    params=_scrub(params),
                    request_id=meta.get("RequestId"),
                    http_status=status,
                    error_code=code,
                    attempts=int(meta.get("RetryAttempts", 0)) + 1,
                )
            )
            if code in api.not_found_codes:
                return Absent(code)
            kind = classify(code, status)
            message = _one_line(str(err.get("Message") or exc))
            return Failed(
                kind,
                SourceError(
                    code=code,
                    message=message,
                    operation=f"{api.service}:{api.operation}",
                    permission=(
                        api.permission if kind == "access_denied" and code not in CREDENTIAL_CODES else None
                    ),
                ),
            )
        except (ConnectionError, HTTPClientError, BotoCoreError, ResponseParserError) as exc:
            # Unreachable endpoint, timeouts, a response botocore cannot parse: could not read.
            code = type(exc).__name__
            self._record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    region=region,
                    params=_scrub(params),
                    error_code=code,
                )
            )
            unread: FailureKind = (
                "unreachable" if isinstance(exc, ConnectionError | HTTPClientError) else "client_error"
            )
            return Failed(
                unread,
                # The first line only: a parser error goes on with the raw body it could not read.
                SourceError(
                    code=code,
                    message=(str(exc).splitlines() or [code])[0][:500],
                    operation=f"{api.service}:{api.operation}",
                ),
            )
        meta = response.get("ResponseMetadata", {})
        self._record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                region=region,
                params=_scrub(params),
                request_id=meta.get("RequestId"),
                http_status=meta.get("HTTPStatusCode"),
                attempts=int(meta.get("RetryAttempts", 0)) + 1,
            )
        )
        return Found(response)

    def paginate(
        self,
        client: Any,
        api: ApiPermission,
        region: str | None,
        result_key: str,
        *,
        token_in: str = "NextToken",
        token_out: str | None = None,
        **params: Any,
    ) -> Outcome:
        """Follow every page (token loop, so each page is recorded as a call). Found(list of items)."""
        items: list[Any] = []
        token_out = token_out or token_in
        request = dict(params)
        pages = 0
        while True:
            outcome = self.call(client, api, region, **request)
            if not isinstance(outcome, Found):
                return outcome
            page = outcome.value
            items.extend(page.get(result_key, []) or [])
            pages += 1
            token = page.get(token_out)
            if not token or pages > 10_000:
                return Found(items)
            request = {**params, token_in: token}

    def calls_for(self, apis: Iterable[ApiPermission]) -> list[ApiCall]:
        wanted = {(a.service, a.operation) for a in apis}
        with self._lock:
            return [c for c in self.calls if (c.service, c.operation) in wanted]


def uniform_failure(outcomes: Iterator[Outcome] | list[Outcome]) -> SourceError | None:
    """If every call of one operation failed the same way (e.g. AccessDenied everywhere), that is a
    failure to collect the whole evidence type, not a finding about each resource."""
    outcomes = list(outcomes)
    if not outcomes or not all(isinstance(o, Failed) for o in outcomes):
        return None
    first = outcomes[0]
    assert isinstance(first, Failed)
    if all(isinstance(o, Failed) and o.error.code == first.error.code for o in outcomes):
        return first.error
    return None


def failed_reason(outcome: Failed) -> str:
    text = f"could not read: {outcome.error.code} on {outcome.error.operation}"
    if outcome.error.permission:
        text += f" (needs {outcome.error.permission})"
    return text


@dataclass
class Snapshot:
    """What one collector read from one target. Service snapshots subclass this.

    ``failures`` maps an API (``ApiPermission.key``) to the error that stopped it for the whole target
    (a listing call denied, or a per-resource call denied everywhere): every evidence type that
    requires it is an ``error`` record naming the permission.
    """

    target: dict[str, str]
    observed_at: datetime
    failures: dict[str, SourceError] = field(default_factory=dict)

    def fail(self, api: ApiPermission, error: SourceError) -> None:
        self.failures[api.key] = error

    def fail_if_uniform(self, api: ApiPermission, outcomes: Iterable[Outcome | None]) -> None:
        """Record ``api`` as failed for the whole target when every call of it failed the same way
        (calls not made, ``None``, are left out)."""
        failure = uniform_failure([o for o in outcomes if o is not None])
        if failure is not None:
            self.fail(api, failure)


def fan_out(read: Callable[[T], R], items: Iterable[T], concurrency: int) -> list[R]:
    """Read every resource with at most ``concurrency`` calls in flight; results keep the input order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(read, items))

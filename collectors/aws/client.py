"""The AWS boundary: one client factory, one call wrapper that records and sorts every call.

Following Airflow's amazon provider (one base hook, one botocore ``Config``, cached clients) and
Cloud Custodian (each call paired with its IAM permission; errors sorted precisely at the API
boundary). Nothing here runs at import time and no module holds a client.

Outcomes of a call are the neutral core's (``collectors.core.outcomes``): ``Found`` (the value),
``Absent`` (the API said the setting does not exist: a finding, e.g. no default encryption),
``Failed`` (could not read: access denied, throttled after retries, service unavailable,
unreachable, or another AWS error code). Exceptions that are not AWS's answers (bugs) propagate.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.core.outcomes import Absent, Failed, FailureKind, Found, Outcome
from collectors.core.recording import CallRecorder, one_line, scrub
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, Setting
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

if TYPE_CHECKING:
    import boto3

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
ACCESS_DENIED_CODES = (
    frozenset(
        {
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "AuthorizationError",
            "UnauthorizedAccess",
            "Forbidden",
            "403",
            "AllAccessDisabled",
            "OptInRequired",
        }
    )
    | CREDENTIAL_CODES
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

AWS_CONNECTION = ConnectionSpec(
    conn_type="aws",
    default_conn_id="aws_default",
    description="boto3's credential chain, a named profile, or roles to assume per account",
    settings=(
        Setting(
            "regions",
            "region to collect from (repeat); default AWS_DEFAULT_REGION or us-east-1",
            env="EVIDENCE_AWS_REGIONS",
            flags=("--region", "-r"),
            multiple=True,
        ),
        Setting(
            "accounts",
            "account role to assume (repeat); default the ambient credentials",
            env="EVIDENCE_AWS_ROLE_ARNS",
            flags=("--role-arn",),
            multiple=True,
        ),
        Setting(
            "endpoint_url",
            "one endpoint for every service: an emulator or a private endpoint",
            env="EVIDENCE_AWS_ENDPOINT_URL",
            flags=("--endpoint-url",),
        ),
        Setting(
            "concurrency",
            "in-flight calls per service (1-64)",
            env="EVIDENCE_AWS_CONCURRENCY",
            flags=("--concurrency",),
            kind="int",
        ),
        Setting("max_retries", "retries after the first attempt (botocore max_attempts)", kind="int"),
        Setting("retry_mode", "botocore retry mode: adaptive, standard or legacy"),
        Setting("region_name", "the Airflow AWS connection's region (when regions is not set)"),
        Setting("aws_access_key_id", "static access key id (an Airflow AWS connection's login)"),
        Setting("aws_secret_access_key", "static secret key (its password)", secret=True),
        Setting("aws_session_token", "session token of temporary credentials", secret=True),
    ),
)


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

    # A boto3 session to start from (Airflow's AWS hook hands one over); None: boto3's own chain.
    session: Any = field(default=None, compare=False, repr=False)
    # Static credentials (an Airflow AWS connection's login/password); None: boto3's own chain.
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> AwsConfig:
        """From resolved settings (``AWS_CONNECTION``'s names; an Airflow AWS connection's extra uses
        the same keys, plus the provider's ``region_name``)."""
        parsed = AWS_CONNECTION.resolve(settings, environ={})
        regions = (
            parsed.get("regions")
            or ([parsed["region_name"]] if parsed.get("region_name") else None)
            or [os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
        )
        accounts = tuple(
            AwsAccount(**a) if isinstance(a, Mapping) else AwsAccount(name=str(a), role_arn=str(a))
            for a in parsed.get("accounts", [])
        ) or (AwsAccount(),)
        concurrency = parsed.get("concurrency", cls.concurrency)
        if not 1 <= concurrency <= 64:
            raise ConfigError(f"AWS concurrency must be between 1 and 64, got {concurrency}")
        return cls(
            regions=tuple(regions),
            accounts=accounts,
            endpoint_url=parsed.get("endpoint_url"),
            max_retries=parsed.get("max_retries", cls.max_retries),
            retry_mode=parsed.get("retry_mode", cls.retry_mode),
            concurrency=concurrency,
            session=parsed.get("session"),
            access_key_id=parsed.get("aws_access_key_id"),
            secret_access_key=parsed.get("aws_secret_access_key"),
            session_token=parsed.get("aws_session_token"),
        )

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> AwsConfig:
        """From ``EVIDENCE_AWS_*`` variables, with ``overrides`` (e.g. a connection's extra) on top."""
        return cls.from_mapping(AWS_CONNECTION.resolve(overrides or {}))


class AwsClients:
    """Builds and caches boto3 clients for one account: one botocore Config, thread-safe cache.

    boto3 clients are thread-safe; sessions are not, so clients are built under a lock.
    """

    def __init__(
        self, config: AwsConfig, session: boto3.Session | None = None, account: AwsAccount | None = None
    ) -> None:
        self.config = config
        self.account = account or AwsAccount()
        self._session = session if session is not None else config.session
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

            if self.account.profile:
                base = boto3.Session(profile_name=self.account.profile)
            elif self.config.access_key_id and self.config.secret_access_key:
                base = boto3.Session(
                    aws_access_key_id=self.config.access_key_id,
                    aws_secret_access_key=self.config.secret_access_key,
                    aws_session_token=self.config.session_token,
                )
            else:
                base = boto3.Session()
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

    def account_id(self, recorder: AwsCallRecorder | None = None) -> str:
        if self._account_id is None:
            region = self.config.regions[0]
            sts = self.client("sts", region)
            rec = recorder or AwsCallRecorder()
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


def classify(code: str, http_status: int | None) -> FailureKind:
    if code in ACCESS_DENIED_CODES or http_status in (401, 403):
        return "access_denied"
    if code in THROTTLING_CODES or http_status == 429:
        return "throttled"
    if code in UNAVAILABLE_CODES or (http_status is not None and http_status >= 500):
        return "unavailable"
    return "client_error"


@dataclass
class AwsCallRecorder(CallRecorder):
    """Makes boto3 calls for a collector and keeps the log: service, operation, params, region,
    request id, HTTP status, attempts (botocore's own retries included)."""

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
            self.record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    region=region,
                    params=scrub(params),
                    request_id=meta.get("RequestId"),
                    http_status=status,
                    error_code=code,
                    attempts=int(meta.get("RetryAttempts", 0)) + 1,
                )
            )
            if code in api.not_found_codes:
                return Absent(code)
            kind = classify(code, status)
            message = one_line(str(err.get("Message") or exc))
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
            self.record(
                ApiCall(
                    service=api.service,
                    operation=api.operation,
                    region=region,
                    params=scrub(params),
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
        self.record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                region=region,
                params=scrub(params),
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

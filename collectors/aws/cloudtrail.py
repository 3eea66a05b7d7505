"""CloudTrail: is every region logged by a multi-region trail that is logging, validates its log files
and delivers them to S3?

Regional. ``describe_trails(includeShadowTrails=True)`` in a region lists the trails homed there and
the "shadow" copies of multi-region trails homed elsewhere, so a region covered only by another
region's multi-region trail is seen as covered.

Double counting. Each regional record answers "which trails log *this* region, and is one of them a
compliant multi-region trail?". A multi-region trail therefore appears once in every region's record
(never twice in one: the listing is de-duplicated by ARN), with ``shadow`` true outside its home
region. That is deliberate: each region's evidence must stand on its own (a region may be collected
without the trail's home region), and a broken multi-region trail really does leave every region
unlogged. What is not repeated is the trail's *judgement*: its status and event selectors are read
from the trail's home region, so every region sees the same facts, and an account-level roll-up
counts each trail once by keeping the rows with ``shadow`` false. Single-region trails never appear
outside their home region.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from collectors.core.timestamps import iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.cloudtrail"

DESCRIBE_TRAILS = ApiPermission("cloudtrail", "describe_trails", "cloudtrail:DescribeTrails")
# A trail deleted between the listing and these calls answers TrailNotFoundException: gone, not unreadable.
GET_TRAIL_STATUS = ApiPermission(
    "cloudtrail", "get_trail_status", "cloudtrail:GetTrailStatus", ("TrailNotFoundException",)
)
GET_EVENT_SELECTORS = ApiPermission(
    "cloudtrail", "get_event_selectors", "cloudtrail:GetEventSelectors", ("TrailNotFoundException",)
)
TRAIL_CALLS = (GET_TRAIL_STATUS, GET_EVENT_SELECTORS)

# CIS AWS Foundations 3.1: a multi-region trail must log management events, both reads and writes.
REQUIRED_MANAGEMENT_EVENTS = "All"

TRAIL_FIELDS = (
    "trail_name",
    "home_region",
    "shadow",
    "multi_region",
    "organization_trail",
    "is_logging",
    "log_file_validation",
    "s3_bucket",
    "latest_delivery_error",
    "latest_digest_delivery_error",
    "latest_delivery_time",
    "management_events",
    "excluded_event_sources",
    "kms_key_id",
    "cloudwatch_logs_log_group",
    "region_covered",
)


@dataclass
class Trail:
    arn: str
    description: dict[str, Any]  # describe_trails' entry
    # get_trail_status, get_event_selectors -> outcome (both asked in the trail's home region)
    settings: dict[str, Outcome] = field(default_factory=dict)

    @property
    def status(self) -> Outcome | None:
        return self.settings.get(GET_TRAIL_STATUS.operation)

    @property
    def selectors(self) -> Outcome | None:
        return self.settings.get(GET_EVENT_SELECTORS.operation)

    @property
    def name(self) -> str:
        return str(self.description.get("Name") or self.arn.rsplit("/", 1)[-1])

    @property
    def home_region(self) -> str | None:
        home = self.description.get("HomeRegion")
        if home:
            return str(home)
        parts = self.arn.split(":")  # arn:aws:cloudtrail:<region>:<account>:trail/<name>
        return parts[3] if len(parts) > 3 and parts[3] else None


@dataclass
class CloudTrailSnapshot(Snapshot):
    region: str = ""
    trails: list[Trail] = field(default_factory=list)


def _fetch_trail(clients: AwsClients, region: str, recorder: AwsCallRecorder, trail: Trail) -> Trail:
    # Status and selectors are read where the trail lives: every region then judges the same facts,
    # and a shadow trail needs no cross-region lookup (AWS wants the ARN for a shadow trail's status).
    home = trail.home_region or region
    client = clients.client("cloudtrail", home)
    trail.settings[GET_TRAIL_STATUS.operation] = recorder.call(client, GET_TRAIL_STATUS, home, Name=trail.arn)
    trail.settings[GET_EVENT_SELECTORS.operation] = recorder.call(
        client, GET_EVENT_SELECTORS, home, TrailName=trail.arn
    )
    return trail


def fetch(ctx: FetchContext[AwsTarget]) -> CloudTrailSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = CloudTrailSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("cloudtrail", region)
    listing = recorder.call(client, DESCRIBE_TRAILS, region, includeShadowTrails=True)
    if isinstance(listing, Failed):
        snapshot.fail(DESCRIBE_TRAILS, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    seen: dict[str, Trail] = {}
    for entry in listing.value.get("trailList", []) or []:
        arn = entry.get("TrailARN")
        if arn and arn not in seen:
            seen[arn] = Trail(arn=arn, description=entry)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        snapshot.trails = list(pool.map(lambda t: _fetch_trail(clients, region, recorder, t), seen.values()))
    for api in TRAIL_CALLS:
        snapshot.fail_if_uniform(api, [t.settings[api.operation] for t in snapshot.trails])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping.

_RW_UNION = {
    frozenset(): "None",
    frozenset({"ReadOnly"}): "ReadOnly",
    frozenset({"WriteOnly"}): "WriteOnly",
}


def management_events(response: dict[str, Any]) -> tuple[str, str | None]:
    """Which management events a trail logs ("All", "ReadOnly", "WriteOnly", "None") and the event
    sources it excludes, from basic or advanced event selectors."""
    kinds: set[str] = set()
    excluded: set[str] = set()
    for selector in response.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True):  # the API's default is true
            kinds.add(selector.get("ReadWriteType") or "All")
            excluded.update(selector.get("ExcludeManagementEventSources") or [])
    for selector in response.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
        category = fields.get("eventCategory", {})
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = {str(v).lower() for v in (fields.get("readOnly", {}).get("Equals") or [])}
        # readOnly = true: reads only; = false: writes only; absent (or both values): everything.
        kinds.add("ReadOnly" if read_only == {"true"} else "WriteOnly" if read_only == {"false"} else "All")
        excluded.update(fields.get("eventSource", {}).get("NotEquals") or [])
    logged = "All" if "All" in kinds or {"ReadOnly", "WriteOnly"} <= kinds else _RW_UNION[frozenset(kinds)]
    return logged, (",".join(sorted(excluded)) or None)


@dataclass
class _Judged:
    trail: Trail
    facts: dict[str, Any]
    problems: list[str]
    unreadable: Failed | None = None
    gone: bool = False

    @property
    def multi_region(self) -> bool:
        return bool(self.facts["multi_region"])

    @property
    def compliant(self) -> bool:
        return self.multi_region and not self.unreadable and not self.gone and not self.problems


def _judge(trail: Trail, region: str) -> _Judged:
    desc = trail.description
    facts: dict[str, Any] = dict.fromkeys(TRAIL_FIELDS)
    facts.update(
        trail_name=trail.name,
        home_region=trail.home_region,
        shadow=trail.home_region is not None and trail.home_region != region,
        multi_region=bool(desc.get("IsMultiRegionTrail")),
        organization_trail=bool(desc.get("IsOrganizationTrail")),
        log_file_validation=bool(desc.get("LogFileValidationEnabled")),
        s3_bucket=desc.get("S3BucketName") or None,
        kms_key_id=desc.get("KmsKeyId") or None,
        cloudwatch_logs_log_group=desc.get("CloudWatchLogsLogGroupArn") or None,
    )
    judged = _Judged(trail, facts, [])
    for outcome in (trail.status, trail.selectors):
        if isinstance(outcome, Failed) and judged.unreadable is None:
            judged.unreadable = outcome
        if isinstance(outcome, Absent):
            judged.gone = True
    if isinstance(trail.status, Found):
        status = trail.status.value
        facts.update(
            is_logging=bool(status.get("IsLogging")),
            latest_delivery_error=status.get("LatestDeliveryError") or None,
            latest_digest_delivery_error=status.get("LatestDigestDeliveryError") or None,
            latest_delivery_time=iso(status.get("LatestDeliveryTime")),
        )
    if isinstance(trail.selectors, Found):
        facts["management_events"], facts["excluded_event_sources"] = management_events(trail.selectors.value)
    if judged.unreadable or judged.gone:
        return judged
    problems = judged.problems
    if not facts["is_logging"]:
        problems.append("not logging")
    if not facts["log_file_validation"]:
        problems.append("log file validation off")
    if not facts["s3_bucket"]:
        problems.append("no S3 bucket")
    if facts["latest_delivery_error"]:
        problems.append(f"S3 delivery failing: {facts['latest_delivery_error']}")
    if facts["latest_digest_delivery_error"]:
        problems.append(f"digest delivery failing: {facts['latest_digest_delivery_error']}")
    if facts["management_events"] != REQUIRED_MANAGEMENT_EVENTS:
        problems.append(f"management events logged: {facts['management_events']}")
    return judged


def _advisories(facts: dict[str, Any]) -> str:
    # Not required by the control (S3 default encryption already covers the logs at rest), but an
    # auditor asks: say so in the reason.
    notes = []
    if not facts["kms_key_id"]:
        notes.append("not KMS-encrypted")
    if not facts["cloudwatch_logs_log_group"]:
        notes.append("no CloudWatch Logs delivery")
    if facts["excluded_event_sources"]:
        notes.append(f"excludes {facts['excluded_event_sources']}")
    return f" (advisory: {', '.join(notes)})" if notes else ""


@SERVICE.evidence_type(
    "aws.cloudtrail.trails",
    title="Every region is logged by a multi-region CloudTrail trail that is logging, validates its log "
    "files and delivers them to S3",
    api_calls=(DESCRIBE_TRAILS, GET_TRAIL_STATUS, GET_EVENT_SELECTORS),
    resource_kind="trail",
)
def trails(snapshot: CloudTrailSnapshot) -> list[Row]:
    region = snapshot.region
    # A trail deleted while it was being read no longer logs anything: it leaves the population.
    judged = [j for j in (_judge(t, region) for t in snapshot.trails) if not j.gone]
    covering = [j for j in judged if j.compliant]
    covered = bool(covering)
    # Coverage is unknown when nothing proves it and a multi-region trail could not be read.
    unknown = not covered and any(j.multi_region and j.unreadable for j in judged)
    region_covered = True if covered else (None if unknown else False)
    rows: list[Row] = []
    for j in judged:
        status, reason = _verdict(j, region, covering, unknown)
        rows.append(
            {
                "resource": j.trail.arn,
                "region": region,
                "status": status,
                "reason": reason,
                **j.facts,
                "region_covered": region_covered,
            }
        )
    if region_covered is False and not any(r["status"] == "fail" for r in rows):
        # Nothing logs this region (no trail, or only unreadable single-region ones): the finding is
        # about the account in this region, so the account is the resource.
        rows.insert(
            0,
            {
                "resource": snapshot.target["account"],
                "region": region,
                "status": "fail",
                "reason": f"no CloudTrail trail logs {region}"
                if not judged
                else f"no multi-region CloudTrail trail logs {region}",
                **dict.fromkeys(TRAIL_FIELDS),
                "region_covered": False,
            },
        )
    return rows


def _verdict(j: _Judged, region: str, covering: list[_Judged], unknown: bool) -> tuple[str, str]:
    where = f" (home region {j.facts['home_region']})" if j.facts["shadow"] else ""
    if j.unreadable:
        return "error", failed_reason(j.unreadable)
    if j.multi_region:
        if j.problems:
            return "fail", f"multi-region trail: {'; '.join(j.problems)}{where}"
        return "pass", (
            f"multi-region trail logging to s3://{j.facts['s3_bucket']} with log file validation"
            f"{where}{_advisories(j.facts)}"
        )
    if covering:
        # A supplementary single-region trail (e.g. for data events): the region is logged anyway.
        return "not_applicable", (
            f"single-region trail; {region} is covered by multi-region trail {covering[0].trail.name}"
        )
    if unknown:
        return "error", "single-region trail; coverage unknown: a multi-region trail could not be read"
    problems = ["single-region trail and no compliant multi-region trail logs this region", *j.problems]
    return "fail", "; ".join(problems)

"""Route 53: record TTLs (DNS failover speed) and health checks.

``fetch`` lists every hosted zone, every record set of every zone (bounded concurrency) and every
health check once; the evidence types below are pure functions of that snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.route53"

LIST_HOSTED_ZONES = ApiPermission("route53", "list_hosted_zones", "route53:ListHostedZones")
# NoSuchHostedZone: the zone was deleted between the listing and this call; nothing left to judge.
LIST_RECORD_SETS = ApiPermission(
    "route53", "list_resource_record_sets", "route53:ListResourceRecordSets", ("NoSuchHostedZone",)
)
LIST_HEALTH_CHECKS = ApiPermission("route53", "list_health_checks", "route53:ListHealthChecks")

# The seed checklist's own figure ("DNS configured with low TTL (300s or less)"): after a DNS failover,
# resolvers keep the old answer for up to one TTL, so the TTL bounds how long clients keep going to
# the failed endpoint.
MAX_TTL_SECONDS = 300
# NS and SOA records are set by Route 53 and mirrored by the registrar's delegation (172800 s / 900 s
# by default); long TTLs there are normal and do not delay failover of the records that carry traffic.
REGISTRAR_MANAGED_TYPES = frozenset({"NS", "SOA"})
# Route 53's default endpoint check (RequestInterval 30 s x FailureThreshold 3) declares an endpoint
# unhealthy within 90 s. A slower check delays failover beyond what the default promises.
MAX_DETECTION_SECONDS = 90
# Checks that probe an endpoint. TCP only proves a port accepts connections, not that the
# application answers, so it does not count as a health check of the service.
HTTP_CHECK_TYPES = frozenset({"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH"})
# Checks that probe nothing themselves: they combine other checks or follow an alarm/routing control.
AGGREGATE_CHECK_TYPES = frozenset({"CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"})
# Safety stop for a pagination loop that never ends (a misbehaving endpoint).
MAX_PAGES = 10_000


@dataclass
class HostedZone:
    id: str  # without the "/hostedzone/" prefix
    name: str
    private: bool | None
    records: Outcome | None = None  # Found(list of record sets)


@dataclass
class Route53Snapshot(Snapshot):
    zones: list[HostedZone] = field(default_factory=list)
    zones_listing: Outcome | None = None
    health_checks: Outcome | None = None  # Found(list of health checks)


def list_record_sets(client: Any, recorder: AwsCallRecorder, region: str, zone_id: str) -> Outcome:
    """ListResourceRecordSets pages on (name, type, identifier), not on one token: follow all three."""
    items: list[Any] = []
    request: dict[str, Any] = {"HostedZoneId": zone_id}
    for _ in range(MAX_PAGES):
        outcome = recorder.call(client, LIST_RECORD_SETS, region, **request)
        if not isinstance(outcome, Found):
            return outcome
        page = outcome.value
        items.extend(page.get("ResourceRecordSets") or [])
        if not page.get("IsTruncated") or not page.get("NextRecordName"):
            break
        request = {"HostedZoneId": zone_id, "StartRecordName": page["NextRecordName"]}
        if page.get("NextRecordType"):
            request["StartRecordType"] = page["NextRecordType"]
        if page.get("NextRecordIdentifier"):
            request["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    return Found(items)


def fetch(ctx: FetchContext[AwsTarget]) -> Route53Snapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = Route53Snapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("route53", region)
    health_checks = recorder.paginate(
        client, LIST_HEALTH_CHECKS, region, "HealthChecks", token_in="Marker", token_out="NextMarker"
    )
    snapshot.health_checks = health_checks
    if isinstance(health_checks, Failed):
        snapshot.fail(LIST_HEALTH_CHECKS, health_checks.error)
    listing = recorder.paginate(
        client, LIST_HOSTED_ZONES, region, "HostedZones", token_in="Marker", token_out="NextMarker"
    )
    snapshot.zones_listing = listing
    if isinstance(listing, Failed):
        snapshot.fail(LIST_HOSTED_ZONES, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    zones = [
        HostedZone(
            id=str(z["Id"]).rsplit("/", 1)[-1],
            name=str(z.get("Name") or ""),
            private=(z.get("Config") or {}).get("PrivateZone"),
        )
        for z in listing.value
    ]

    def read(zone: HostedZone) -> HostedZone:
        zone.records = list_record_sets(client, recorder, region, zone.id)
        return zone

    snapshot.zones = fan_out(read, zones, concurrency)
    snapshot.fail_if_uniform(LIST_RECORD_SETS, [z.records for z in snapshot.zones])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="global")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mappings: snapshot -> rows.


def record_id(zone_id: str, record: dict[str, Any]) -> str:
    """Stable id of one record set: zone, name, type, and the set identifier of weighted/failover/
    latency/geo records (several record sets share a name and type and differ only by it)."""
    rid = f"{zone_id}/{record.get('Name')}/{record.get('Type')}"
    if record.get("SetIdentifier"):
        rid += f"/{record['SetIdentifier']}"
    return rid


@SERVICE.evidence_type(
    "aws.route53.record_ttl",
    title="DNS records have a low TTL (300 s or less) so failover reaches clients quickly",
    api_calls=(LIST_HOSTED_ZONES, LIST_RECORD_SETS),
    resource_kind="DNS record",
)
def record_ttl(snapshot: Route53Snapshot) -> list[Row]:
    rows: list[Row] = []
    for zone in snapshot.zones:
        zone_fields = {"zone_id": zone.id, "zone_name": zone.name, "private_zone": zone.private}
        if isinstance(zone.records, Failed):
            rows.append(
                {
                    "resource": zone.id,
                    "region": None,
                    "status": "error",
                    "reason": f"record sets of zone {zone.name}: {failed_reason(zone.records)}",
                    **zone_fields,
                    "record_name": None,
                    "record_type": None,
                    "set_identifier": None,
                    "ttl": None,
                    "alias": None,
                    "health_check_id": None,
                }
            )
            continue
        if not isinstance(zone.records, Found):
            continue  # Absent: the zone was deleted while we read it
        for record in zone.records.value:
            rtype = record.get("Type")
            alias = record.get("AliasTarget") is not None
            ttl = record.get("TTL")
            fields = {
                **zone_fields,
                "record_name": record.get("Name"),
                "record_type": rtype,
                "set_identifier": record.get("SetIdentifier"),
                "ttl": int(ttl) if ttl is not None else None,
                "alias": alias,
                "health_check_id": record.get("HealthCheckId"),
            }
            if rtype in REGISTRAR_MANAGED_TYPES:
                status, reason = (
                    "not_applicable",
                    f"{rtype} record: managed by Route 53 and the registrar delegation, a long TTL is "
                    "normal and does not delay failover",
                )
            elif alias:
                status, reason = (
                    "not_applicable",
                    "alias record: Route 53 answers with the TTL of the alias target",
                )
            elif ttl is None:
                status, reason = "fail", "no TTL in the record set (and not an alias)"
            elif int(ttl) > MAX_TTL_SECONDS:
                status, reason = "fail", f"TTL {ttl} s is above {MAX_TTL_SECONDS} s"
            else:
                status, reason = "pass", f"TTL {ttl} s"
            rows.append(
                {
                    "resource": record_id(zone.id, record),
                    "region": None,
                    "status": status,
                    "reason": reason,
                    **fields,
                }
            )
    return rows


def _records_by_health_check(snapshot: Route53Snapshot) -> dict[str, list[str]] | None:
    """Health check id -> the record sets it backs; None when some record sets could not be read
    (a partial list would claim a check backs nothing when it may)."""
    if not isinstance(snapshot.zones_listing, Found):
        return None
    backed: dict[str, list[str]] = {}
    for zone in snapshot.zones:
        if isinstance(zone.records, Failed):
            return None
        if isinstance(zone.records, Found):
            for record in zone.records.value:
                if record.get("HealthCheckId"):
                    backed.setdefault(record["HealthCheckId"], []).append(record_id(zone.id, record))
    return backed


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


@SERVICE.evidence_type(
    "aws.route53.health_checks",
    title="Route 53 health checks exist and probe the service over HTTP(S) with a prompt failure detection",
    api_calls=(LIST_HEALTH_CHECKS, LIST_HOSTED_ZONES.optional(), LIST_RECORD_SETS.optional()),
    resource_kind="health check",
)
def health_checks(snapshot: Route53Snapshot) -> list[Row]:
    if not isinstance(snapshot.health_checks, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    backed = _records_by_health_check(snapshot)
    if not snapshot.health_checks.value:
        return [
            {
                "resource": snapshot.target["account"],
                "region": None,
                "status": "fail",
                "reason": "no Route 53 health checks in the account",
                "check_type": None,
                "endpoint": None,
                "resource_path": None,
                "request_interval": None,
                "failure_threshold": None,
                "detection_seconds": None,
                "disabled": None,
                "inverted": None,
                "backs_records": None,
            }
        ]
    rows: list[Row] = []
    for check in snapshot.health_checks.value:
        config = check.get("HealthCheckConfig") or {}
        check_type = config.get("Type")
        interval = _int_or_none(config.get("RequestInterval"))
        threshold = _int_or_none(config.get("FailureThreshold"))
        host = config.get("FullyQualifiedDomainName") or config.get("IPAddress")
        endpoint = f"{host}:{config['Port']}" if host and config.get("Port") else host
        disabled = config.get("Disabled")
        detection = interval * threshold if interval and threshold else None
        backs = ",".join(sorted(backed.get(check["Id"], []))) if backed is not None else None
        fields = {
            "check_type": check_type,
            "endpoint": endpoint,
            "resource_path": config.get("ResourcePath"),
            "request_interval": interval,
            "failure_threshold": threshold,
            "detection_seconds": detection,
            "disabled": disabled,
            "inverted": config.get("Inverted"),
            "backs_records": backs,
        }
        if check_type in AGGREGATE_CHECK_TYPES:
            status, reason = (
                "not_applicable",
                f"{check_type} check probes no endpoint itself (judged through the checks or alarm "
                "it follows)",
            )
        elif check_type not in HTTP_CHECK_TYPES:
            status, reason = (
                "fail",
                f"{check_type or 'unknown'} check: only HTTP(S) checks show the application answers",
            )
        elif disabled:
            status, reason = "fail", "health check disabled: Route 53 considers the endpoint always healthy"
        elif detection is None:
            status, reason = "fail", "no request interval or failure threshold: detection time unknown"
        elif detection > MAX_DETECTION_SECONDS:
            status, reason = (
                "fail",
                f"detects a failure after {detection} s ({interval} s x {threshold}),"
                f" above {MAX_DETECTION_SECONDS} s",
            )
        else:
            status, reason = (
                "pass",
                f"{check_type} check of {endpoint}, detects a failure within {detection} s",
            )
        if backed is None:
            reason += "; records it backs unknown (record sets unreadable)"
        elif backs:
            reason += f"; backs {backs}"
        rows.append({"resource": check["Id"], "region": None, "status": status, "reason": reason, **fields})
    return rows

"""The Sentry family's demo source: a local HTTP double of the Sentry Web API, serving the documented
response shapes: organization details, teams, projects (cursor pagination through the ``Link``
header), project details, client keys, issue and metric alert rules, ``stats_v2`` event totals, and
the envelope endpoint that sentry-sdk posts events to (events it receives are then readable at
``/api/0/projects/{org}/{project}/events/{id}/``).

Faults on demand: tokens with a subset of scopes (403 naming nothing, as Sentry does), an unknown token
(401), a number of 429 answers with ``Retry-After`` per path, and a path answering malformed JSON.
Only for Sentry, a SaaS that cannot run here (DESIGN.md: no other fakes).

``demo_estate()`` runs it seeded with the organization ``acme`` (2FA and data scrubbing on, IP
addresses kept), a compliant and a non-compliant project and a team without members, as the family's
``demo()``: ``evidence demo --family sentry`` collects from it and ``evidence sentry canary`` sends
an event to it. The tests use the same double (``tests/support/sentry_double.py`` re-exports it).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from evidence.family import DemoEstate

ALL_SCOPES = frozenset({"org:read", "project:read", "team:read", "alerts:read", "event:read", "member:read"})
DSN_SECRET = "dsnsecret0123456789abcdef"  # the legacy secret half of a DSN: must never reach evidence

# path pattern -> the scope Sentry requires for it
_SCOPES = [
    (re.compile(r"^/api/0/organizations/[^/]+/teams/$"), "team:read"),
    (re.compile(r"^/api/0/organizations/[^/]+/projects/$"), "project:read"),
    (re.compile(r"^/api/0/organizations/[^/]+/alert-rules/$"), "alerts:read"),
    (re.compile(r"^/api/0/organizations/[^/]+/stats_v2/$"), "org:read"),
    (re.compile(r"^/api/0/organizations/[^/]+/$"), "org:read"),
    (re.compile(r"^/api/0/projects/[^/]+/[^/]+/rules/$"), "alerts:read"),
    (re.compile(r"^/api/0/projects/[^/]+/[^/]+/events/[^/]+/$"), "event:read"),
    (re.compile(r"^/api/0/projects/[^/]+/[^/]+/(keys/)?$"), "project:read"),
]


@dataclass
class Project:
    id: int
    slug: str
    key_active: bool = True
    events: int = 120
    issue_rules: list[dict[str, Any]] = field(default_factory=list)
    grouping: str = "newstyle:2023-01-11"
    fingerprinting: str = ""
    public_key: str = field(default_factory=lambda: uuid.uuid4().hex)


def compliant_project(pid: int, slug: str) -> Project:
    rule = {
        "id": str(pid * 10),
        "name": "New issue to the team",
        "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
        "actions": [
            {
                "id": "sentry.mail.actions.NotifyEmailAction",
                "targetType": "Team",
                "targetIdentifier": "backend",
            }
        ],
        "frequency": 30,
    }
    return Project(pid, slug, issue_rules=[rule], fingerprinting="error.type:DatabaseError -> db-errors")


@dataclass
class Estate:
    org: str = "acme"
    org_settings: dict[str, Any] = field(
        default_factory=lambda: {
            "require2FA": True,
            "dataScrubber": True,
            "dataScrubberDefaults": True,
            "scrubIPAddresses": True,
            "sensitiveFields": ["iban", "ssn"],
        }
    )
    projects: list[Project] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    metric_rules: list[dict[str, Any]] = field(default_factory=list)


def sample_estate(extra_projects: int = 0) -> Estate:
    """``api`` complies; ``web`` does not (disabled key, no events, no rules, legacy grouping);
    ``extra_projects`` compliant ones more (pagination, benchmarks). Team ``ghost`` has no members."""
    api = compliant_project(1, "api")
    web = Project(2, "web", key_active=False, events=0, grouping="legacy:2019-03-12")
    projects = [api, web, *(compliant_project(100 + i, f"svc-{i:04d}") for i in range(extra_projects))]
    return Estate(
        projects=projects,
        teams=[
            {
                "id": "1",
                "slug": "backend",
                "name": "Backend",
                "memberCount": 3,
                "projects": [{"slug": "api"}],
            },
            {"id": "2", "slug": "ghost", "name": "Ghost", "memberCount": 0, "projects": [{"slug": "web"}]},
        ],
        metric_rules=[
            {
                "id": "7",
                "name": "Error rate over 5%",
                "projects": ["api"],
                "aggregate": "percentage(sessions_crashed, sessions)",
                "triggers": [
                    {
                        "label": "critical",
                        "alertThreshold": 5,
                        "actions": [{"type": "slack", "targetIdentifier": "#alerts-api"}],
                    }
                ],
            }
        ],
    )


class SentryDouble:
    def __init__(self, estate: Estate | None = None, *, page_size: int = 100) -> None:
        self.estate = estate or sample_estate()
        self.page_size = page_size
        self.tokens: dict[str, frozenset[str]] = {}
        self.throttle: dict[str, tuple[int, str]] = {}  # path -> (429s left, Retry-After value)
        self.malformed: set[str] = set()
        self.received: dict[str, dict[str, Any]] = {}  # event id -> the event sentry-sdk sent
        self.envelopes: list[bytes] = []  # every envelope body as received (decompressed)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._get(self)

            def do_POST(self) -> None:
                outer._post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def token(self, scopes: frozenset[str] = ALL_SCOPES) -> str:
        value = "sntrys_" + uuid.uuid4().hex
        self.tokens[value] = frozenset(scopes)
        return value

    def dsn(self, project: Project) -> str:
        host = self.url.removeprefix("http://")
        return f"http://{project.public_key}@{host}/{project.id}"

    def __enter__(self) -> SentryDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- answers ------------------------------------------------------------------------------------

    def _send(
        self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("X-Request-Id", uuid.uuid4().hex)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _page(
        self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], items: list[Any]
    ) -> None:
        cursor = (query.get("cursor") or ["0:0:0"])[0]
        offset = int(cursor.split(":")[1])
        page = items[offset : offset + self.page_size]
        more = offset + self.page_size < len(items)
        base = f"{self.url}{path}"
        nxt = f"0:{offset + self.page_size}:0"
        prev = f"0:{max(0, offset - self.page_size)}:1"
        link = (
            f'<{base}?cursor={prev}>; rel="previous"; results="{str(offset > 0).lower()}"; cursor="{prev}", '
            f'<{base}?cursor={nxt}>; rel="next"; results="{str(more).lower()}"; cursor="{nxt}"'
        )
        self._send(h, 200, page, {"Link": link})

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, parse_qs(parts.query)
        with self._lock:
            self.requests.append(path)
        auth = h.headers.get("Authorization", "")
        scopes = self.tokens.get(auth.removeprefix("Bearer "))
        if scopes is None:
            return self._send(h, 401, {"detail": "Invalid token"})
        needed = next((scope for pattern, scope in _SCOPES if pattern.match(path)), None)
        if needed is None:
            return self._send(h, 404, {"detail": "The requested resource does not exist"})
        if needed not in scopes:
            return self._send(h, 403, {"detail": "You do not have permission to perform this action."})
        with self._lock:
            left, retry_after = self.throttle.get(path, (0, "1"))
            if left > 0:
                self.throttle[path] = (left - 1, retry_after)
        if left > 0:
            return self._send(h, 429, {"detail": "Rate limit exceeded"}, {"Retry-After": retry_after})
        if path in self.malformed:
            return self._send(h, 200, b"<html>502 Bad Gateway</html>")
        est = self.estate
        segs = path.strip("/").split("/")[2:]  # after api/0
        if segs[0] == "organizations":
            if segs[1] != est.org:
                return self._send(h, 404, {"detail": "The requested resource does not exist"})
            rest = segs[2:]
            if not rest:
                return self._send(
                    h, 200, {"id": "1", "slug": est.org, "name": est.org.title(), **est.org_settings}
                )
            if rest == ["teams"]:
                return self._page(h, path, query, est.teams)
            if rest == ["projects"]:
                listing = [
                    {"id": str(p.id), "slug": p.slug, "name": p.slug, "platform": "python"}
                    for p in est.projects
                ]
                return self._page(h, path, query, listing)
            if rest == ["alert-rules"]:
                return self._page(h, path, query, est.metric_rules)
            if rest == ["stats_v2"]:
                groups = [
                    {"by": {"project": p.id}, "totals": {"sum(quantity)": p.events}}
                    for p in est.projects
                    if p.events
                ]
                return self._send(h, 200, {"start": "", "end": "", "intervals": [], "groups": groups})
        if segs[0] == "projects" and segs[1] == est.org:
            project = next((p for p in est.projects if p.slug == segs[2]), None)
            if project is None:
                return self._send(h, 404, {"detail": "The requested resource does not exist"})
            rest = segs[3:]
            if not rest:
                return self._send(
                    h,
                    200,
                    {
                        "id": str(project.id),
                        "slug": project.slug,
                        "groupingConfig": project.grouping,
                        "fingerprintingRules": project.fingerprinting,
                        "groupingEnhancements": "",
                    },
                )
            if rest == ["keys"]:
                host = self.url.removeprefix("http://")
                key = {
                    "id": project.public_key[:8],
                    "name": "Default",
                    "public": project.public_key,
                    "secret": DSN_SECRET,
                    "isActive": project.key_active,
                    "dsn": {
                        "public": f"http://{project.public_key}@{host}/{project.id}",
                        "secret": f"http://{project.public_key}:{DSN_SECRET}@{host}/{project.id}",
                    },
                }
                return self._page(h, path, query, [key])
            if rest == ["rules"]:
                return self._page(h, path, query, project.issue_rules)
            if rest[0] == "events" and len(rest) == 2:
                event = self.received.get(rest[1])
                if event is None:
                    return self._send(h, 404, {"detail": "Event not found"})
                return self._send(h, 200, {"eventID": rest[1], "projectID": str(project.id), **event})
        return self._send(h, 404, {"detail": "The requested resource does not exist"})

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        match = re.fullmatch(r"/api/(\d+)/envelope/", urlsplit(h.path).path)
        if not match:
            return self._send(h, 404, {"detail": "not found"})
        encoding = (h.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        with self._lock:
            self.envelopes.append(body)
        lines = body.split(b"\n")
        header = json.loads(lines[0])
        index = 1
        while index + 1 < len(lines):
            item_header = json.loads(lines[index])
            payload = lines[index + 1]
            if item_header.get("length") is not None:
                rest = b"\n".join(lines[index + 1 :])
                payload = rest[: item_header["length"]]
                lines = [*lines[: index + 1], *rest[item_header["length"] + 1 :].split(b"\n")]
            if item_header.get("type") == "event":
                event = json.loads(payload)
                with self._lock:
                    self.received[str(event.get("event_id") or header.get("event_id"))] = event
            index += 2
        return self._send(h, 200, {"id": header.get("event_id")})


def demo_org_settings() -> dict[str, Any]:
    """The demo organization's settings: compliant but for IP scrubbing (``sentry.org.security`` fails)."""
    return {**Estate().org_settings, "scrubIPAddresses": False}


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    """The double on loopback with the sample estate (``api`` complies, ``web`` does not; team ``ghost``
    has no members) in an organization that keeps IP addresses, and a token with every read scope."""
    estate = sample_estate()
    estate.org_settings = demo_org_settings()
    with SentryDouble(estate) as double:
        ok, bad = {"api"}, {"web"}
        yield DemoEstate(
            settings={
                "url": double.url,
                "organization": estate.org,
                "token": double.token(),
                "canary_projects": ["api", "web"],
            },
            description=(
                f"Sentry Web API double on {double.url}: organization {estate.org} (IP addresses kept), "
                "projects api (compliant) and web (disabled key, no rules, legacy grouping); canary to both"
            ),
            extra={
                "expectations": {
                    "sentry.org.security": {"passing": set(), "failing": {estate.org}},
                    "sentry.org.teams": {"passing": {"backend"}, "failing": {"ghost"}},
                    "sentry.projects.client_keys": {"passing": ok, "failing": bad},
                    "sentry.projects.alert_rules": {"passing": ok, "failing": bad},
                    "sentry.projects.grouping": {"passing": ok, "failing": bad},
                    "sentry.canary.delivery": {"passing": ok, "failing": bad},  # web: no enabled DSN
                },
                "double": double,
            },
        )

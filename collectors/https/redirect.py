"""https.redirect: is a plain-HTTP URL sent on to HTTPS? One GET, redirects not followed.

Each evidence type below is a pure function of the snapshot, fed recorded answers in the unit tests.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from collectors.https.family import HTTPS, Endpoint
from evidence.registry import ApiPermission, Row

COLLECTOR = "https.redirect"

GET = ApiPermission("http", "GET", "http:GET")
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class RedirectSnapshot(Snapshot):
    url: str = ""
    response: Outcome | None = None  # Found({"status": int, "location": str | None})


def _get(endpoint: Endpoint) -> dict[str, Any]:
    rest = endpoint.url.split("://", 1)[1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=endpoint.config.timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "evidence-collector"})
        response = conn.getresponse()
        response.read(65536)
        return {"status": response.status, "location": response.getheader("Location")}
    finally:
        conn.close()


def fetch(ctx: FetchContext[Endpoint]) -> RedirectSnapshot:
    snapshot = RedirectSnapshot(target=ctx.target, observed_at=ctx.observed_at, url=ctx.connection.url)
    snapshot.response = ctx.recorder.run(GET, {"url": ctx.connection.url}, lambda: _get(ctx.connection))
    if isinstance(snapshot.response, Failed):
        snapshot.fail(GET, snapshot.response.error)
    return snapshot


SOURCE = HTTPS.source(COLLECTOR, scope="url", description="a plain-HTTP URL's answer")(fetch)


@SOURCE.evidence_type(
    "https.redirect.http_to_https",
    title="Plain HTTP is redirected to HTTPS",
    api_calls=(GET,),
    resource_kind="endpoint",
)
def http_to_https(snapshot: RedirectSnapshot) -> list[Row]:
    """A redirect status (301/302/303/307/308) whose Location is an https:// URL passes; a page
    served over plain HTTP, or a redirect to another http:// URL, fails."""
    base = {"resource": snapshot.url, "region": None, "http_url": snapshot.url}
    if not isinstance(snapshot.response, Found):
        reason = failed_reason(snapshot.response) if isinstance(snapshot.response, Failed) else "not read"
        return [
            {
                **base,
                "status": "error",
                "reason": reason,
                "redirects_to_https": None,
                "status_code": None,
                "location": None,
            }
        ]
    status, location = snapshot.response.value["status"], snapshot.response.value["location"]
    fields = {"status_code": status, "location": location}
    if status in REDIRECTS and (location or "").lower().startswith("https://"):
        return [
            {
                **base,
                "status": "pass",
                "reason": f"{status} to {location}",
                "redirects_to_https": True,
                **fields,
            }
        ]
    if status in REDIRECTS:
        reason = f"{status} redirect to {location or '(no Location)'}, not to https://"
    else:
        reason = f"served over plain HTTP with status {status}, no redirect to HTTPS"
    return [{**base, "status": "fail", "reason": reason, "redirects_to_https": False, **fields}]

"""The Compliance section's web app (FastAPI, mounted by Airflow's api-server at ``/compliance``).

Thin: each route checks who is asking, parses the request, calls ``plugins.compliance.views`` and
renders a server-side template (Jinja2, autoescaped; no script on any page, and a Content Security
Policy that allows none).

Security. Airflow gives plugin apps no authentication of their own, so every route depends on
``authorised_reader`` or ``authorised_writer``: both resolve the user through Airflow's
``GetUserDep`` (the JWT from the ``Authorization: Bearer`` header, else the UI's ``_token`` cookie),
exactly as the core REST API does. Reading needs ``GET`` on the custom view ``Compliance`` through the
auth manager; changing anything (exceptions, attestations) needs the Op or Admin role with the simple
auth manager, and ``can_create`` on ``Compliance`` with the FAB auth manager. A browser request that
changes something must come from this origin (``Origin``/``Referer``) and carry a token derived from
its session cookie (HMAC), on top of the cookie's ``SameSite=Lax``; a request with a bearer token
is not ambient authority and needs neither.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

RESOURCE = "Compliance"
MUTATING_ROLES = frozenset({"OP", "ADMIN"})
COOKIE = "_token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_BUNDLE_DAYS = 3 * 366
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TEMPLATES = Path(__file__).with_name("templates")
NAV = (
    ("/", "Posture"),
    ("/evidence", "Evidence"),
    ("/exceptions", "Exceptions"),
    ("/reminders", "Reminders"),
    ("/attest", "Attest"),
    ("/drills", "DR drills"),
    ("/bundle", "Bundle"),
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


# --- who is asking ----------------------------------------------------------------------------------


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def may_read(user: Any) -> bool:
    return bool(_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user))


def may_mutate(user: Any) -> bool:
    """Op or Admin. The simple auth manager's custom-view check ignores the method (any viewer
    passes), so its role is checked; other auth managers decide ``POST`` on ``Compliance``."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    manager = _auth_manager()
    if isinstance(manager, SimpleAuthManager):
        from airflow.configuration import conf

        if conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False):
            return True
        return (getattr(user, "role", None) or "").upper() in MUTATING_ROLES
    return bool(manager.is_authorized_custom_view(method="POST", resource_name=RESOURCE, user=user))


def csrf_token(request: Request) -> str:
    """A token only this session's page can know: an HMAC of the session cookie (empty without one)."""
    cookie = request.cookies.get(COOKIE, "")
    if not cookie:
        return ""
    return hmac.new(cookie.encode(), b"evidence-compliance-csrf", hashlib.sha256).hexdigest()


def _origin_of(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def same_origin(request: Request) -> bool:
    """The request's ``Origin`` (else ``Referer``) is this server (as asked, or its ``[api] base_url``)."""
    claimed = request.headers.get("origin") or _origin_of(request.headers.get("referer", ""))
    if not claimed or claimed == "null":
        return False
    allowed = {_origin_of(str(request.base_url))}
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    if base:
        allowed.add(_origin_of(base))
    return claimed.lower() in allowed


def _bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def authorised_reader(user: GetUserDep) -> Any:
    if not may_read(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: the Compliance view is not granted")
    return user


async def authorised_writer(request: Request, user: GetUserDep) -> Any:
    if not may_read(user) or not may_mutate(user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Forbidden: changing compliance records needs Op or Admin"
        )
    if not _bearer(request):
        if not same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: cross-origin request refused")
        expected = csrf_token(request)
        given = request.headers.get(CSRF_HEADER, "")
        if not given and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form(max_files=1, max_fields=20)
            given = str(form.get(CSRF_FIELD) or "")
        if not expected or not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "Forbidden: missing or stale form token; reload the page"
            )
    return user


Reader = Annotated[Any, Depends(authorised_reader)]
Writer = Annotated[Any, Depends(authorised_writer)]


# --- the store ----------------------------------------------------------------------------------------


class StoreHolder:
    """The evidence store, opened on first use (``EVIDENCE_STORE_URL``), kept for the process."""

    def __init__(self, opener: Callable[[], Any] | None = None) -> None:
        self._opener = opener
        self._store: Any = None
        self._writer: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._store is None:
                if self._opener is not None:
                    self._store = self._opener()
                else:
                    from evidence.store import open_store

                    self._store = open_store(create=False)
            return self._store

    def writer(self) -> Any:
        """The store opened for appending (with its signing key), for what UI users add and for bundle
        downloads (signed, and recorded). Opened only after the reading store proved the store exists:
        the UI never creates a store."""
        reader = self.get()
        with self._lock:
            if self._opener is not None:
                return reader
            if self._writer is None:
                from evidence.store import open_store

                self._writer = open_store(create=True)
            return self._writer

    def close(self) -> None:
        with self._lock:
            for opened in (self._store, self._writer):
                if opened is not None:
                    opened.close()
            self._store = self._writer = None


# --- rendering ----------------------------------------------------------------------------------------


def _name(user: Any) -> str:
    getter = getattr(user, "get_name", None)
    return str(getter() if callable(getter) else user)


def render(
    request: Request, user: Any, template: str, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    base = request.scope.get("root_path", "").rstrip("/")
    active = "/" + request.url.path.removeprefix(base).strip("/").split("/")[0]
    html = _env.get_template(template).render(
        base=base,
        nav=NAV,
        active=active,
        user_name=_name(user),
        can_mutate=may_mutate(user),
        csrf_token=csrf_token(request),
        problem=values.pop("problem", None),
        notice=values.pop("notice", None),
        **values,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _now() -> Any:
    from evidence.canonical import utcnow

    return utcnow()


def _catalog() -> Any:
    from evidence.catalog import load_catalog

    return load_catalog()


# --- the app ------------------------------------------------------------------------------------------


def create_app(opener: Callable[[], Any] | None = None) -> FastAPI:
    holder = StoreHolder(opener)
    app = FastAPI(title="Compliance", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = holder

    from evidence.errors import ConfigError, RecordNotFound, StoreError, UsageError

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """A browser that is not logged in goes to Airflow's login page and comes back."""
        if (
            exc.status_code == 401
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
        ):
            login = _auth_manager().get_url_login(next_url=str(request.url))
            if login:
                return RedirectResponse(login, status.HTTP_303_SEE_OTHER)
        return await http_exception_handler(request, exc)

    @app.exception_handler(UsageError)
    async def _usage(request: Request, exc: UsageError) -> Response:
        return _problem(request, 400, str(exc))

    @app.exception_handler(RecordNotFound)
    async def _missing(request: Request, exc: RecordNotFound) -> Response:
        return _problem(request, 404, str(exc))

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> Response:
        return _problem(request, 503, f"the evidence store is not available: {exc}")

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        return _problem(request, 503, f"the evidence store failed: {exc}")

    def _problem(request: Request, code: int, message: str) -> Response:
        if "json" in request.headers.get("accept", "") or "json" in request.headers.get("content-type", ""):
            return JSONResponse({"detail": message}, status_code=code, headers=SECURITY_HEADERS)
        html = _env.get_template("error.html").render(
            base=request.scope.get("root_path", "").rstrip("/"),
            nav=NAV,
            active="",
            user_name="",
            can_mutate=False,
            problem=message,
            title=f"HTTP {code}",
        )
        return HTMLResponse(html, status_code=code, headers=SECURITY_HEADERS)

    def store() -> Any:
        return holder.get()

    def writer() -> Any:
        return holder.writer()

    @app.get("/", response_class=HTMLResponse)
    def posture(request: Request, user: Reader, framework: str | None = None) -> Response:
        from plugins.compliance import views

        fw = views.parse_framework(framework)
        catalog, now = _catalog(), _now()
        result = views.assess_controls(store(), catalog, list(catalog.controls), now)
        trend = views.trend_chart(views.trend_points(views.iter_snapshots(store()), catalog, fw))
        due = views.reminders(result, now, 14)
        return render(
            request,
            user,
            "posture.html",
            title="Posture",
            view=views.posture_view(result, fw),
            frameworks=views.FRAMEWORKS,
            trend=trend,
            reminders=len(due),
        )

    @app.get("/api/posture")
    def posture_json(user: Reader, framework: str | None = None) -> Response:
        from evidence.posture import assess
        from plugins.compliance import views

        fw = views.parse_framework(framework)
        result = assess(store(), framework=None if fw == "all" else fw)
        return JSONResponse(result.to_dict(), headers=SECURITY_HEADERS)

    @app.get("/controls/{control_id}", response_class=HTMLResponse)
    def control(request: Request, user: Reader, control_id: str) -> Response:
        from plugins.compliance import views

        view = views.control_view(store(), _catalog(), control_id, _now())
        return render(request, user, "control.html", title=view.control.id, view=view)

    @app.get("/evidence", response_class=HTMLResponse)
    def evidence(request: Request, user: Reader) -> Response:
        from plugins.compliance import views

        query = dict(request.query_params)
        filters = views.EvidenceFilter.parse(query)
        page = views.parse_int(query.get("page"), "page", default=1, low=1, high=views.MAX_PAGE)
        per_page = views.parse_int(
            query.get("per_page"), "per_page", default=views.PAGE_SIZE, low=1, high=views.MAX_PAGE_SIZE
        )
        result = views.evidence_page(store(), filters, page=page, per_page=per_page)
        statuses = list(views.STATUS_LABELS.items())
        return render(
            request, user, "evidence.html", title="Evidence", page=result, f=filters, statuses=statuses
        )

    @app.get("/evidence/{record_id}", response_class=HTMLResponse)
    def record(request: Request, user: Reader, record_id: str) -> Response:
        from plugins.compliance import views

        detail = views.record_detail(store().get(record_id))
        return render(request, user, "record.html", title=detail.row.evidence_type, d=detail)

    @app.get("/evidence/{record_id}/attachments/{sha256}")
    def attachment(user: Reader, record_id: str, sha256: str) -> Response:
        """A record's attachment (an attested document), always as a download: never rendered here."""
        record = store().get(record_id)
        ref = next((a for a in record.attachments if a.sha256 == sha256), None)
        if ref is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"record {record.id} has no attachment {sha256[:64]}"
            )
        from plugins.compliance.views import document_name

        return Response(
            store().read_blob(ref.sha256),
            media_type="application/octet-stream",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{document_name(ref.name)}"',
            },
        )

    def _exceptions_page(request: Request, user: Any, code: int = 200, **extra: Any) -> Response:
        from evidence.registry import EXCEPTION
        from plugins.compliance import views

        records, payloads = views.person_records(store(), EXCEPTION.id)
        rows = views.exception_rows(records, payloads, _now())
        extra.setdefault("form", {})
        return render(
            request, user, "exceptions.html", status_code=code, title="Exceptions", rows=rows, **extra
        )

    @app.get("/exceptions", response_class=HTMLResponse)
    def exceptions(request: Request, user: Reader, created: str | None = None) -> Response:
        notice = f"exception recorded ({created})" if created and ULID_RE.match(created) else None
        return _exceptions_page(request, user, notice=notice)

    @app.post("/exceptions")
    async def create_exception(request: Request, user: Writer) -> Response:
        from starlette.concurrency import run_in_threadpool

        from plugins.compliance import views

        is_json = request.headers.get("content-type", "").startswith("application/json")
        if is_json:
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
            if not isinstance(body, dict):
                return JSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
        else:
            body = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        fields: dict[str, Any] = {}
        for name in ("controls", "owner", "reason", "expires_at", "role"):
            value = body.get(name) or ""
            listed = name == "controls" and isinstance(value, list) and all(isinstance(v, str) for v in value)
            if not isinstance(value, str) and not listed:
                message = f"{name}: expected text" + (
                    " or a list of control ids" if name == "controls" else ""
                )
                if is_json:
                    return JSONResponse({"detail": message}, status_code=400)
                value = ""
            fields[name] = value
        try:
            prepared = views.new_exception(
                controls=fields["controls"],
                owner=fields["owner"],
                reason=fields["reason"],
                expires_at=fields["expires_at"],
                role=fields["role"],
                username=_name(user),
                now=_now(),
            )
        except UsageError as exc:
            if is_json:
                return JSONResponse({"detail": str(exc)}, status_code=400)
            return await run_in_threadpool(
                _exceptions_page, request, user, 400, problem=str(exc), form=fields
            )
        saved = await run_in_threadpool(views.append, writer(), prepared)
        if is_json:
            return JSONResponse(
                {"id": saved.id, "control_ids": list(saved.control_ids), "reason": saved.reason},
                status_code=201,
            )
        return RedirectResponse(f"{request.scope.get('root_path', '')}/exceptions?created={saved.id}", 303)

    @app.get("/reminders", response_class=HTMLResponse)
    def reminders(request: Request, user: Reader, days: str | None = None) -> Response:
        from plugins.compliance import views

        within = views.parse_int(days, "days", default=14, low=0, high=views.MAX_REMINDER_DAYS)
        catalog, now = _catalog(), _now()
        result = views.assess_controls(store(), catalog, list(catalog.controls), now)
        rows = views.reminders(result, now, within)
        return render(request, user, "reminders.html", title="Reminders", rows=rows, days=within)

    def _attest_page(request: Request, user: Any, code: int = 200, **extra: Any) -> Response:
        from evidence.registry import ATTESTATION
        from plugins.compliance import views

        recent = [
            views.record_row(r)
            for r in store().iter_records(evidence_type=ATTESTATION.id, newest_first=True, limit=20)
        ]
        extra.setdefault("form", {})
        return render(request, user, "attest.html", status_code=code, title="Attest", recent=recent, **extra)

    @app.get("/attest", response_class=HTMLResponse)
    def attest_form(request: Request, user: Reader, created: str | None = None) -> Response:
        notice = f"attestation recorded ({created})" if created and ULID_RE.match(created) else None
        return _attest_page(request, user, notice=notice)

    @app.post("/attest")
    async def attest(request: Request, user: Writer) -> Response:
        from starlette.concurrency import run_in_threadpool
        from starlette.datastructures import UploadFile

        from evidence.attestation import MAX_DOCUMENT_BYTES
        from plugins.compliance import views

        form = await request.form(max_files=1, max_fields=20)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("document")
        document = None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_DOCUMENT_BYTES + 1)
            document = (upload.filename, data)
        try:
            prepared = await run_in_threadpool(
                lambda: views.new_attestation(
                    controls=fields.get("controls", ""),
                    statement=fields.get("statement", ""),
                    attested_by=fields.get("attested_by", ""),
                    role=fields.get("role"),
                    in_place=fields.get("in_place", "yes") != "no",
                    valid_until=fields.get("valid_until"),
                    document=document,
                    username=_name(user),
                    now=_now(),
                )
            )
        except UsageError as exc:
            return await run_in_threadpool(_attest_page, request, user, 400, problem=str(exc), form=fields)
        saved = await run_in_threadpool(views.append, writer(), prepared)
        return RedirectResponse(f"{request.scope.get('root_path', '')}/attest?created={saved.id}", 303)

    @app.get("/drills", response_class=HTMLResponse)
    def drills(request: Request, user: Reader) -> Response:
        from plugins.compliance import views

        rows = views.drill_rows(store())
        return render(
            request,
            user,
            "drills.html",
            title="DR drills",
            drills=rows,
            rto=views.drill_chart(rows, "rto"),
            rpo=views.drill_chart(rows, "rpo"),
        )

    @app.get("/bundle", response_class=HTMLResponse)
    def bundle_form(request: Request, user: Reader) -> Response:
        return render(request, user, "bundle.html", title="Bundle", available=bundle_module() is not None)

    @app.get("/bundle/download")
    def bundle_download(request: Request, user: Reader) -> Response:
        from plugins.compliance import views

        module = bundle_module()
        if module is None:
            raise HTTPException(
                status.HTTP_501_NOT_IMPLEMENTED, "bundles are not available (evidence.bundle)"
            )
        query = request.query_params
        framework = views.parse_framework(query.get("framework"))
        if framework == "all":
            raise UsageError("framework: choose soc2, gdpr or dr")
        start = views.parse_time(query.get("from"), "from")
        end = views.parse_time(query.get("to"), "to")
        if start is None or end is None:
            raise UsageError("from and to are required (YYYY-MM-DD)")
        if end <= start:
            raise UsageError("from must be before to")
        if end > _now() + timedelta(days=1):
            raise UsageError("to is in the future")
        if end - start > timedelta(days=MAX_BUNDLE_DAYS):
            raise UsageError(f"a bundle covers at most {MAX_BUNDLE_DAYS} days")
        folder = tempfile.mkdtemp(prefix="evidence-bundle-")
        out = Path(folder) / f"evidence-{framework}-{start:%Y%m%d}-{end:%Y%m%d}.zip"
        try:
            with out.open("wb") as handle:
                summary = module.write_bundle(writer(), framework=framework, start=start, end=end, out=handle)
            # Every download is itself evidence: who, when, which framework and period, the digest.
            views.append(
                writer(),
                module.export_record(
                    summary,
                    exported_by=_name(user),
                    context=views.ui_context(_name(user)),
                    channel="ui",
                ),
            )
        except BaseException:
            _remove(folder)
            raise
        return FileResponse(
            out,
            media_type="application/zip",
            filename=out.name,
            background=BackgroundTask(_remove, folder),
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    return app


def bundle_module() -> Any:
    try:
        import evidence.bundle as module  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return module


def _remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)

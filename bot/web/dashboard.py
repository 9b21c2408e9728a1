"""The secretaries' web dashboard and its JSON API, on the bot's own aiohttp server.

A secretary sends /dashboard and gets a single-use link; the link opens a session. Pages and API
calls check the caller's role with the same command table as the chat (`bot.auth`), and the
data comes from the same services, so a member's session sees only what a member may.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno
from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot import background
from bot.auth import Actor, authorize
from bot.errors import Denied, DomainError, Invalid, NotFound
from bot.services import dashboard_sessions, dues, items, periods
from bot.services.checkin_codes import qr_target
from bot.texts import plain, t
from bot.web import views
from bot.web.openapi import openapi_document
from bot.web.session import CSRF_FIELD, Sessions, Signed
from handlers.common import Deps

log = logging.getLogger(__name__)

KINDS = ("meeting", "activity")

# On every dashboard and API response. The pages load their style and script from
# /dashboard/static/ (no inline script or style), are never framed, and nothing with members'
# names or phone numbers is kept in a cache. Referrer-Policy is same-origin, not no-referrer:
# with no-referrer a browser sends `Origin: null` on our own form posts, which the CSRF check
# would refuse.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    # Chart.js 4 (MIT, chart.js.LICENSE.md beside it), vendored: no CDN, nothing fetched at run
    # time. The overview and dues pages draw their interactive charts with it.
    "chart.umd.js": "text/javascript",
    "checkin.css": "text/css",
    "checkin.js": "text/javascript",
}
# Files larger than this are also kept gzipped, for browsers that accept it (a phone on a slow
# line gets Chart.js in a third of its size).
GZIP_FROM = 8 * 1024
# The title of a refusal or an error page, by status.
ERROR_TITLES = {code: f"dash.error_{code}" for code in (400, 401, 403, 404, 405, 409, 500)}
# What an error page says when the refusal came from aiohttp or a check, not a service.
ERROR_MESSAGES = {
    400: "dashboard.bad_request",
    403: "dashboard.forbidden",
    404: "dashboard.not_found",
    405: "dashboard.method_not_allowed",
    500: "dashboard.server_error",
}

Page = Callable[[web.Request, Actor, Signed], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
ApiHandler = Callable[[web.Request, Actor], Awaitable[Any]]


class Dashboard:
    def __init__(
        self, deps: Deps, bot_username: str, *, pool: background.Executor | None = None
    ) -> None:
        self.deps = deps
        self.bot_username = bot_username
        # The chart and the downloads are made in worker processes, never on the event loop:
        # by default the process's pool, shared with the background runner.
        self.pool = pool or background.shared_pool(deps.config.background.workers)
        self.sessions = Sessions(deps)
        folder = resources.files("bot.web").joinpath("static")
        self.static = {name: folder.joinpath(name).read_bytes() for name in STATIC}
        self.static_gzip = {
            name: gzip.compress(data, 9, mtime=0)
            for name, data in self.static.items()
            if len(data) >= GZIP_FROM
        }
        self.templates = Environment(
            loader=PackageLoader("bot.web", "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def render(
        self,
        name: str,
        actor: Actor | None,
        signed: Signed | None,
        *,
        status: int = 200,
        **values: Any,
    ) -> web.Response:
        lang = actor.language if actor else self.deps.default_language

        def text(key: str, **params: Any) -> str:
            return plain(t(lang, key, **params))

        def person(name: str) -> str:
            return views.person(lang, name)

        def allowed(command: str) -> bool:
            try:
                authorize(actor, command)
            except Denied:
                return False
            return True

        html = self.templates.get_template(name).render(
            t=text,
            lang=lang,
            actor=actor,
            viewer=person(actor.name) if actor else "",
            person=person,
            csrf=signed.csrf if signed else "",
            csrf_field=CSRF_FIELD,
            allowed=allowed,
            **values,
        )
        return web.Response(text=html, content_type="text/html", status=status)

    def error(
        self,
        status: int,
        actor: Actor | None,
        signed: Signed | None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> web.Response:
        """A refusal or an error as a page: what happened, in words, and the way back."""
        return self.render(
            "error.html",
            actor,
            signed,
            status=status,
            code=status,
            title=ERROR_TITLES.get(
                status, "dash.error_500" if status >= 500 else "dash.error_other"
            ),
            key=key
            or ERROR_MESSAGES.get(
                status, "dashboard.server_error" if status >= 500 else "dashboard.bad_request"
            ),
            params=params or {},
        )


DASHBOARD_KEY: web.AppKey[Dashboard] = web.AppKey("dashboard", Dashboard)


def _dashboard(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD_KEY]


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdecimal() or len(raw) > 9:
        raise web.HTTPNotFound()
    return int(raw)


def _query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    return value or None


# Refusals about the state of things, not the request: 409 Conflict rather than 400.
_CONFLICTS = frozenset(
    {
        "checkin.outside_window",
        "meeting.is_cancelled",
        "activity.is_cancelled",
        "activity.is_over",
    }
)


def _domain_status(exc: DomainError) -> type[web.HTTPException]:
    if isinstance(exc, NotFound):
        return web.HTTPNotFound
    if isinstance(exc, Denied):
        return web.HTTPForbidden
    if exc.key in _CONFLICTS:
        return web.HTTPConflict
    return web.HTTPBadRequest


def page(
    command: str | None,
) -> Callable[[Page], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """An HTML page: a session is required, and the role must reach `command`."""

    def wrap(handler: Page) -> Route:
        async def route(request: web.Request) -> web.StreamResponse:
            board = _dashboard(request)
            try:
                actor, signed = await board.sessions.actor(request)
            except web.HTTPUnauthorized:
                return board.error(401, None, None, "dashboard.login_needed")
            try:
                if command:
                    authorize(actor, command)
                return await handler(request, actor, signed)
            except DomainError as exc:
                status = _domain_status(exc).status_code
                return board.error(status, actor, signed, exc.key, exc.params)

        return route

    return wrap


def api(
    command: str | None,
) -> Callable[
    [Callable[[web.Request, Actor], Awaitable[Any]]],
    Callable[[web.Request], Awaitable[web.StreamResponse]],
]:
    """A JSON endpoint: 401 without a session, 403/404/400 for refusals, each with a message."""

    def wrap(handler: ApiHandler) -> Route:
        async def route(request: web.Request) -> web.StreamResponse:
            board = _dashboard(request)
            try:
                actor, _ = await board.sessions.actor(request)
            except web.HTTPUnauthorized as exc:
                return web.json_response({"error": "unauthorized", "message": exc.text}, status=401)
            try:
                if command:
                    authorize(actor, command)
                return web.json_response(await handler(request, actor))
            except web.HTTPClientError as exc:
                # A malformed path (an id too long to be one): the same JSON as every refusal.
                return web.json_response(
                    {"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                    status=exc.status,
                )
            except DomainError as exc:
                message = plain(t(actor.language, exc.key, **exc.params))
                return web.json_response(
                    {"error": exc.key, "message": message},
                    status=_domain_status(exc).status_code,
                )

        return route

    return wrap


# ---------------------------------------------------------------- login and logout


async def login_page(request: web.Request) -> web.StreamResponse:
    """Opening the link only shows a button: link previews, scanners and HEAD requests fetch
    it too, and must not spend it. The button's same-origin POST redeems it."""
    board = _dashboard(request)
    return board.render("login.html", None, None, token=request.query.get("t", "")[:100])


async def login(request: web.Request) -> web.StreamResponse:
    board = _dashboard(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != board.sessions.origin:
        raise web.HTTPForbidden(text="cross-site request refused")
    form = await request.post()
    token = str(form.get("t", ""))
    deps = board.deps
    try:
        async with deps.db.write() as session:
            opened = await dashboard_sessions.log_in(
                session,
                token,
                deps.default_language,
                hours=deps.config.dashboard.session_hours,
                now=deps.now(),
            )
    except DomainError as exc:
        return board.error(403, None, None, exc.key)
    response = web.HTTPSeeOther("/dashboard")
    board.sessions.start(response, opened.token)
    raise response


@page(None)
async def logout(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    """Ends this session on the server: a copy of the cookie stops working too."""
    board = _dashboard(request)
    await board.sessions.check_post(request, signed)
    async with board.deps.db.write() as session:
        await dashboard_sessions.end(session, signed.token)
    response = board.render("message.html", None, None, key="dashboard.logged_out")
    board.sessions.end(response)
    return response


@page(None)
async def logout_everywhere(
    request: web.Request, actor: Actor, signed: Signed
) -> web.StreamResponse:
    """Ends every session of the member, in every browser (as /logout in chat does)."""
    board = _dashboard(request)
    await board.sessions.check_post(request, signed)
    async with board.deps.db.write() as session:
        ended = await dashboard_sessions.end_member(
            session, actor.member_id, by=actor.member_id, source="web"
        )
    response = board.render(
        "message.html", None, None, key="dashboard.logged_out_everywhere", params={"count": ended}
    )
    board.sessions.end(response)
    return response


async def static(request: web.Request) -> web.StreamResponse:
    """The pages' style sheets and scripts (the CSP allows no inline), Chart.js among them."""
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    board = _dashboard(request)
    packed = board.static_gzip.get(name)
    if packed is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(
            body=packed,
            content_type=STATIC[name],
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    headers = {"Vary": "Accept-Encoding"} if packed is not None else None
    return web.Response(body=board.static[name], content_type=STATIC[name], headers=headers)


# ---------------------------------------------------------------- pages


@page(None)
async def home(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    me = await views.me(board.deps, actor)
    try:
        authorize(actor, "stats")
    except Denied:
        return board.render("me.html", actor, signed, me=me, section="overview")
    period, branch = _query(request, "period"), _query(request, "branch")
    data = await views.workbench_overview(board.deps, actor, period, branch)
    return board.render("overview.html", actor, signed, me=me, o=data, section="overview")


@page("stats")
async def figure_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    """The names behind one of the overview's figures (知晓率, 出席率, 三会一课, 志愿服务)."""
    board = _dashboard(request)
    data = await views.figure(
        board.deps,
        actor,
        request.match_info["name"],
        _query(request, "period"),
        _query(request, "branch"),
    )
    return board.render("figure.html", actor, signed, f=data, section="overview")


@page("items")
async def items_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.item_list(board.deps, actor)
    return board.render("items.html", actor, signed, items=data, section="items")


@page("items")
async def item_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.item_detail(board.deps, actor, _id(request))
    sent = request.query.get("sent", "")
    return board.render(
        "item.html",
        actor,
        signed,
        item=data,
        sent=int(sent) if sent.isdecimal() and len(sent) < 9 else None,
        section="items",
    )


@page("nudge")
async def nudge(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    await board.sessions.check_post(request, signed)
    item_id = _id(request)
    deps = board.deps
    async with deps.db.write() as session:
        sent = await items.nudge(session, deps.push, actor, item_id, now=deps.now())
    deps.outbox_ready.set()
    raise web.HTTPSeeOther(f"/dashboard/items/{item_id}?sent={sent}")


@page("meetings")
async def meetings_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.meeting_list(board.deps, actor)
    return board.render("meetings.html", actor, signed, m=data, section="meetings")


@page("meetings")
async def meeting_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.meeting_detail(board.deps, actor, _id(request))
    return board.render("meeting.html", actor, signed, meeting=data, section="meetings")


@page("roster")
async def activities_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.activity_list(board.deps, actor)
    return board.render("activities.html", actor, signed, a=data, section="activities")


@page("roster")
async def activity_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.activity_detail(board.deps, actor, _id(request))
    return board.render("activity.html", actor, signed, activity=data, section="activities")


@page("dues")
async def dues_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.dues_page(
        board.deps, actor, _query(request, "month"), _query(request, "branch")
    )
    done = request.query.get("done", "")
    return board.render(
        "dues.html",
        actor,
        signed,
        d=data,
        done=int(done) if done.isdecimal() and len(done) < 9 else None,
        section="dues",
    )


def _form_number(form: Any, name: str) -> int:
    raw = str(form.get(name, ""))
    if not raw.isdecimal() or len(raw) > 9:
        raise web.HTTPBadRequest()
    return int(raw)


def _back_to_dues(form: Any, count: int) -> web.HTTPSeeOther:
    """Back to the dues page the form was on (its month and branch), saying how many."""
    query = f"done={count}"
    month = str(form.get("month", ""))
    if periods.parse_span(month, (periods.MONTH,)) is not None:
        query += f"&month={quote(month)}"
    branch = str(form.get("branch", ""))[:100]
    if branch:
        query += f"&branch={quote(branch)}"
    return web.HTTPSeeOther(f"/dashboard/dues?{query}")


@page("dues")
async def dues_confirm(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    """「确认收讫」 for one reported payment: the dues service checks the secretary's branch, as
    the chat's button does."""
    board = _dashboard(request)
    await board.sessions.check_post(request, signed)
    deps = board.deps
    async with deps.db.write() as session:
        confirmed = await dues.confirm_one(session, deps.dues, actor, _id(request), now=deps.now())
    deps.outbox_ready.set()
    raise _back_to_dues(await request.post(), len(confirmed.names))


@page("dues")
async def dues_confirm_all(
    request: web.Request, actor: Actor, signed: Signed
) -> web.StreamResponse:
    """「全部确认」 for one branch's month: the payments the page listed, none reported after."""
    board = _dashboard(request)
    await board.sessions.check_post(request, signed)
    form = await request.post()
    deps = board.deps
    async with deps.db.write() as session:
        confirmed = await dues.confirm_all(
            session,
            deps.dues,
            actor,
            _form_number(form, "key"),
            _form_number(form, "branch_id"),
            _form_number(form, "up_to"),
            now=deps.now(),
        )
    deps.outbox_ready.set()
    raise _back_to_dues(form, len(confirmed.names))


@page("tasks")
async def tasks_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await views.tasks_page(board.deps, actor, _query(request, "branch"))
    return board.render("tasks.html", actor, signed, d=data, section="tasks")


def _number(request: web.Request, name: str, default: int) -> int:
    if name not in request.query:
        return default
    # Present but empty (`?page=`) is refused like any other value that is not a number.
    raw = request.query[name].strip()
    if not raw.isdecimal() or len(raw) > 9:
        raise Invalid("dashboard.bad_page", max=views.MAX_PAGE)
    return int(raw)


async def _members(request: web.Request, actor: Actor) -> dict[str, Any]:
    return await views.member_list(
        _dashboard(request).deps,
        actor,
        _query(request, "branch"),
        page=_number(request, "page", 1),
        limit=_number(request, "limit", views.DEFAULT_PAGE),
    )


@page("export")
async def members_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    board = _dashboard(request)
    data = await _members(request, actor)
    return board.render(
        "members.html",
        actor,
        signed,
        m=data,
        branch=_query(request, "branch") or "",
        section="members",
    )


def _checkin_target(request: web.Request, actor: Actor) -> tuple[str, int, str]:
    """A meeting's screen, or an activity's check-in (dir=in) or check-out (dir=out) screen,
    for whoever may show that kind's codes."""
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound()
    direction = request.query.get("dir", "in")
    if direction not in ("in", "out"):
        raise web.HTTPBadRequest(reason="dir must be in or out")
    authorize(actor, "checkincode" if kind == "meeting" else "activitycode")
    return kind, _id(request), direction


@page(None)
async def checkin_page(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    kind, event_id, direction = _checkin_target(request, actor)
    board = _dashboard(request)
    data = await views.checkin_code(board.deps, actor, kind, event_id, direction)
    link = qr_target(board.deps.config, board.bot_username, data["start_param"], data["code"])
    # A viewBox and no fixed size: the style sheet makes it as large as the screen allows.
    qr = segno.make(link, error="m").svg_inline(border=2, omitsize=True)
    return board.render(
        "checkin.html",
        actor,
        signed,
        code=data,
        qr=qr,
        api=f"/api/checkin/{kind}/{event_id}?dir={direction}",
    )


async def _made(request: web.Request, actor: Actor, kind: str) -> tuple[str, bytes]:
    """The file of background work `kind` for the page's period and branch, made in the pool
    (the worker re-reads nothing about the caller: the page checked the session's role)."""
    board = _dashboard(request)
    deps = board.deps
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="branchbot-web-")
    try:
        work = background.Work.of(
            deps.db,
            deps.config,
            deps.org_id,
            kind,
            {"period": _query(request, "period"), "branch": _query(request, "branch")},
            language=actor.language,
            now=deps.now(),
            workdir=workdir,
            actor=actor,
        )
        made = (await board.pool.run(work)).outputs[0]
        assert not isinstance(made, background.Message)
        name = made.filename if isinstance(made, background.Document) else "chart.png"
        return name, await asyncio.to_thread(Path(made.path).read_bytes)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


@page("stats")
async def chart(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    _, data = await _made(request, actor, "stats_chart")
    return web.Response(body=data, content_type="image/png")


def _download(data: bytes, name: str, content_type: str) -> web.Response:
    # RFC 6266: a UTF-8 file name for the Chinese, an ASCII one for old clients.
    return web.Response(
        body=data,
        content_type=content_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"ledger\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


@page("export")
async def export_xlsx(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    name, data = await _made(request, actor, "export")
    return _download(
        data, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )


@page("summary")
async def summary_docx(request: web.Request, actor: Actor, signed: Signed) -> web.StreamResponse:
    name, data = await _made(request, actor, "summary")
    return _download(
        data, name, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )


# ---------------------------------------------------------------- JSON API


@api(None)
async def api_me(request: web.Request, actor: Actor) -> Any:
    return await views.me(_dashboard(request).deps, actor)


@api("stats")
async def api_overview(request: web.Request, actor: Actor) -> Any:
    return await views.overview(
        _dashboard(request).deps, actor, _query(request, "period"), _query(request, "branch")
    )


@api("items")
async def api_items(request: web.Request, actor: Actor) -> Any:
    return await views.item_list(_dashboard(request).deps, actor)


@api("items")
async def api_item(request: web.Request, actor: Actor) -> Any:
    return await views.item_detail(_dashboard(request).deps, actor, _id(request))


@api("meetings")
async def api_meetings(request: web.Request, actor: Actor) -> Any:
    return await views.meeting_list(_dashboard(request).deps, actor)


@api("meetings")
async def api_meeting(request: web.Request, actor: Actor) -> Any:
    return await views.meeting_detail(_dashboard(request).deps, actor, _id(request))


@api("roster")
async def api_activities(request: web.Request, actor: Actor) -> Any:
    return await views.activity_list(_dashboard(request).deps, actor)


@api("roster")
async def api_activity(request: web.Request, actor: Actor) -> Any:
    return await views.activity_detail(_dashboard(request).deps, actor, _id(request))


@api("export")
async def api_members(request: web.Request, actor: Actor) -> Any:
    return await _members(request, actor)


@api(None)
async def api_checkin(request: web.Request, actor: Actor) -> Any:
    kind, event_id, direction = _checkin_target(request, actor)
    return await views.checkin_code(_dashboard(request).deps, actor, kind, event_id, direction)


async def api_document(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document(), dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer under /dashboard and /api, refusals and redirects included; the webhook and
    # /healthz on the same server are left as they are.
    if request.path == "/dashboard" or request.path.startswith(("/dashboard/", "/api/")):
        response.headers.update(SECURITY_HEADERS)


def _is_page(request: web.Request) -> bool:
    return request.path == "/dashboard" or request.path.startswith("/dashboard/")


async def _viewer(request: web.Request) -> tuple[Actor | None, Signed | None]:
    """Who is looking at an error page, if anyone is logged in: the page then keeps its
    navigation. Never fails: an error page must show whatever else is wrong."""
    try:
        return await _dashboard(request).sessions.actor(request)
    except Exception:
        return None, None


@web.middleware
async def _friendly_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refusals and failures of the dashboard's pages, and addresses the server does not know,
    answer with a page that says what happened in words (not aiohttp's bare `404: Not Found`);
    the API answers in its JSON. The webhook's and the health check's own answers are left
    alone."""
    unknown = request.match_info.http_exception is not None
    api = request.path.startswith("/api/")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not (_is_page(request) or unknown):
            raise
        if api:
            response = web.json_response(
                {"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                status=exc.status,
            )
        else:
            actor, signed = await _viewer(request)
            response = _dashboard(request).error(exc.status, actor, signed)
        if "Allow" in exc.headers:
            # A 405 names the methods the address takes (RFC 9110).
            response.headers["Allow"] = exc.headers["Allow"]
        if api:
            return response
    except asyncio.CancelledError:
        raise
    except Exception:
        if not (_is_page(request) or api):
            raise
        log.exception("dashboard request failed: %s %s", request.method, request.path)
        if api:
            return web.json_response(
                {"error": "server_error", "message": "internal error"}, status=500
            )
        response = _dashboard(request).error(500, None, None)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _prune_at_start(app: web.Application) -> None:
    deps = app[DASHBOARD_KEY].deps
    async with deps.db.write() as session:
        await dashboard_sessions.prune(session, now=deps.now())


def add_routes(app: web.Application, board: Dashboard) -> None:
    app[DASHBOARD_KEY] = board
    app.middlewares.append(_friendly_errors)
    app.on_response_prepare.append(_security_headers)
    app.on_startup.append(_prune_at_start)
    app.router.add_get("/dashboard/static/{name}", static)
    app.router.add_get("/dashboard/login", login_page, allow_head=False)
    app.router.add_post("/dashboard/login", login)
    app.router.add_post("/dashboard/logout", logout)
    app.router.add_post("/dashboard/logout/everywhere", logout_everywhere)
    app.router.add_get("/dashboard", home)
    app.router.add_get("/dashboard/figures/{name}", figure_page)
    app.router.add_get("/dashboard/items", items_page)
    app.router.add_get("/dashboard/items/{id}", item_page)
    app.router.add_post("/dashboard/items/{id}/nudge", nudge)
    app.router.add_get("/dashboard/meetings", meetings_page)
    app.router.add_get("/dashboard/meetings/{id}", meeting_page)
    app.router.add_get("/dashboard/activities", activities_page)
    app.router.add_get("/dashboard/activities/{id}", activity_page)
    app.router.add_get("/dashboard/dues", dues_page)
    app.router.add_post("/dashboard/dues/confirm-all", dues_confirm_all)
    app.router.add_post("/dashboard/dues/{id}/confirm", dues_confirm)
    app.router.add_get("/dashboard/tasks", tasks_page)
    app.router.add_get("/dashboard/members", members_page)
    app.router.add_get("/dashboard/checkin/{kind}/{id}", checkin_page)
    app.router.add_get("/dashboard/chart.png", chart)
    app.router.add_get("/dashboard/export.xlsx", export_xlsx)
    app.router.add_get("/dashboard/summary.docx", summary_docx)
    app.router.add_get("/api/openapi.json", api_document)
    app.router.add_get("/api/me", api_me)
    app.router.add_get("/api/overview", api_overview)
    app.router.add_get("/api/items", api_items)
    app.router.add_get("/api/items/{id}", api_item)
    app.router.add_get("/api/meetings", api_meetings)
    app.router.add_get("/api/meetings/{id}", api_meeting)
    app.router.add_get("/api/activities", api_activities)
    app.router.add_get("/api/activities/{id}", api_activity)
    app.router.add_get("/api/members", api_members)
    app.router.add_get("/api/checkin/{kind}/{id}", api_checkin)

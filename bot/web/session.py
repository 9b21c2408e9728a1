"""Dashboard sessions: a signed cookie (itsdangerous), HttpOnly and SameSite=Strict, carrying a
random session id and a CSRF token. The session itself is kept in the database
(`bot.services.dashboard_sessions`, only a hash of the id): logging out ends it for every copy of
the cookie. The member's role and scope are read from the database on every request; a request
whose member's role is no longer the session's, or who is no longer active, ends the session."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.auth import Actor
from bot.services import dashboard_sessions
from handlers.common import Deps

COOKIE = "branchbot_session"
SESSION_SALT = "branchbot-dashboard"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Signed:
    """What the cookie holds once verified: the session id and the session's CSRF token."""

    token: str
    csrf: str


class Sessions:
    def __init__(self, deps: Deps) -> None:
        cfg = deps.config.dashboard
        # Without a configured key, sessions last only as long as this process.
        secret = cfg.secret_key or secrets.token_urlsafe(32)
        self.serializer = URLSafeTimedSerializer(secret, salt=SESSION_SALT)
        self.max_age = cfg.session_hours * 3600
        self.secure = cfg.public_url.startswith("https://")
        origin = urlsplit(cfg.public_url)
        self.origin = f"{origin.scheme}://{origin.netloc}"
        self.deps = deps

    def cookie(self, token: str) -> str:
        """The cookie's value for a session id (signed, with a fresh CSRF token)."""
        return str(self.serializer.dumps({"s": token, "c": secrets.token_urlsafe(16)}))

    def start(self, response: web.StreamResponse, token: str) -> None:
        value = self.cookie(token)
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            path="/",
        )

    def end(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")

    def signed(self, request: web.Request) -> Signed | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: Any = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str):
            return None
        return Signed(data["s"], str(data.get("c", "")))

    async def actor(self, request: web.Request) -> tuple[Actor, Signed]:
        """The member behind the request, read afresh, or 401: no cookie, a session that was
        logged out or has expired, or a member whose role changed or who is no longer active
        (which also ends the session)."""
        signed = self.signed(request)
        if signed is None:
            raise web.HTTPUnauthorized(text="login required: send /dashboard to the bot")
        deps = self.deps
        async with deps.db.read() as session:
            actor, stale = await dashboard_sessions.actor_for(
                session, signed.token, deps.default_language, now=deps.now()
            )
        if stale:
            async with deps.db.write() as session:
                await dashboard_sessions.end(session, signed.token)
        if actor is None:
            raise web.HTTPUnauthorized(
                text="this session has ended (logged out, expired, or the account changed):"
                " send /dashboard to the bot"
            )
        return actor, signed

    async def check_post(self, request: web.Request, signed: Signed) -> None:
        """A state-changing request must come from our own pages: same origin, and the form's
        CSRF token must be the session's (a cross-site form cannot read it)."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.origin:
            raise web.HTTPForbidden(text="cross-site request refused")
        form = await request.post()
        given = str(form.get(CSRF_FIELD, ""))
        if not signed.csrf or not hmac.compare_digest(given, signed.csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")

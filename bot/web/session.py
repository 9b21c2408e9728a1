"""Dashboard sessions: a signed cookie (itsdangerous) naming the member and carrying a CSRF
token, HttpOnly and SameSite=Strict. The member's role and scope are read from the database on
every request, so a changed role or a deactivation takes effect at once."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.auth import Actor
from bot.services import members
from handlers.common import Deps

COOKIE = "branchbot_session"
SESSION_SALT = "branchbot-dashboard"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Signed:
    """What the cookie holds once verified."""

    member_id: int
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

    def start(self, response: web.StreamResponse, member_id: int) -> None:
        value = self.serializer.dumps({"m": member_id, "c": secrets.token_urlsafe(16)})
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
        if not isinstance(data, dict) or not isinstance(data.get("m"), int):
            return None
        return Signed(data["m"], str(data.get("c", "")))

    async def actor(self, request: web.Request) -> tuple[Actor, Signed]:
        """The member behind the request, or 401."""
        signed = self.signed(request)
        if signed is None:
            raise web.HTTPUnauthorized(text="login required: send /dashboard to the bot")
        async with self.deps.db.read() as session:
            actor = await members.actor_by_id(session, signed.member_id, self.deps.default_language)
        if actor is None:
            raise web.HTTPUnauthorized(text="this account is no longer active")
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

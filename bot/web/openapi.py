"""The OpenAPI 3.1 document of the dashboard's JSON API, served at /api/openapi.json.

Every endpoint needs the dashboard session cookie (from a /dashboard login link) and answers 401
without it, 403 outside the caller's role or scope, 404 for what does not exist, and 400 for a
bad parameter; each error is `{"error": <key>, "message": <text>}`. A session ends when its member
logs out (in that browser, or everywhere), when it expires, or when the member's role changes or
they are no longer active. `/api/members` comes a page at a time: `?page=` from 1 and `?limit=`
up to 200 rows (100 when left out).
"""

from __future__ import annotations

from typing import Any

from bot.web.views import DEFAULT_PAGE, MAX_PAGE, MAX_PAGE_NUMBER

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_RATE = {
    "type": "object",
    "required": ["done", "total", "percent"],
    "properties": {
        "done": {"type": "integer"},
        "total": {"type": "integer"},
        "percent": {"type": ["integer", "null"]},
    },
}
_TIME = {"type": ["string", "null"], "description": "YYYY-MM-DD HH:MM in the organisation's zone"}
_PERIOD = {
    "name": "period",
    "in": "query",
    "required": False,
    "schema": {
        "type": "string",
        "pattern": "^((20[0-9]{2}|2100)(-(0?[1-9]|1[0-2]|[Qq][1-4]|[Hh][12]))?)?$",
    },
    "description": "YYYY-MM, YYYY-Qn, YYYY-H1, YYYY-H2 or YYYY; empty or left out: this quarter",
}
_BRANCH = {
    "name": "branch",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "a branch's name (admins: any; secretaries: their own)",
}
_PAGE = {
    "name": "page",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER, "default": 1},
    "description": "the page, from 1",
}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    "description": f"rows per page: at most {MAX_PAGE}",
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_ITEM = _object(
    {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "title": {"type": "string"},
        "confirmed": {"type": "integer"},
        "total": {"type": "integer"},
        "published_at": _TIME,
        "deadline": _TIME,
    }
)
_MEETING = _object(
    {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "title": {"type": "string"},
        "starts_at": _TIME,
        "status": {"type": "string"},
        "invited": {"type": "integer"},
        "attending": {"type": "integer"},
        "leave": {"type": "integer"},
        "checked_in": {"type": "integer"},
    }
)
# A closed meeting's invitations by outcome, and the make-ups done (left out before the close).
_MEETING["properties"]["outcomes"] = _object(
    {name: {"type": "integer"} for name in ("attended", "late", "leave", "absent", "made_up")}
)
_ACTIVITY = _object(
    {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "starts_at": _TIME,
        "ends_at": _TIME,
        "status": {"type": "string"},
        "capacity": {"type": "integer"},
        "taken": {"type": "integer"},
        "waiting": {"type": "integer"},
    }
)
_PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def _get(summary: str, schema: dict[str, Any], *parameters: dict[str, Any]) -> dict[str, Any]:
    errors = {
        code: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            ("400", "a bad parameter"),
            ("401", "no session: send /dashboard to the bot"),
            ("403", "outside the caller's role or scope"),
            ("404", "no such record"),
            ("409", "not possible now (check-in closed, the event cancelled or over)"),
        )
    }
    return {
        "get": {
            "summary": summary,
            "parameters": list(parameters),
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                **errors,
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "branchbot dashboard API",
            "version": "1",
            "description": __doc__,
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "branchbot_session"}
            },
        },
        "security": [{"session": []}],
        "paths": {
            "/api/me": _get("the caller", {"type": "object"}),
            "/api/overview": _get(
                "rates, compliance and hours for a period",
                _object(
                    {
                        "scope": {"type": "string"},
                        "period": {"type": "string"},
                        "awareness": _RATE,
                        "study": _RATE,
                        "reminders": _RATE,
                        "attendance": _list({"type": "object"}),
                        "compliance": {"type": "object"},
                        "volunteering": {"type": "object"},
                        "units": _list({"type": "object"}),
                    }
                ),
                _PERIOD,
                _BRANCH,
            ),
            "/api/items": _get("study items and reminders with completion", _list(_ITEM)),
            "/api/items/{id}": _get(
                "who has not confirmed an item",
                _object(
                    {
                        "id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "title": {"type": "string"},
                        "confirmed": {"type": "integer"},
                        "total": {"type": "integer"},
                        "published_at": _TIME,
                        "deadline": _TIME,
                        "pending": _list({"type": "string"}),
                        "unbound": _list({"type": "string"}),
                        "unreachable": _list({"type": "string"}),
                        "confirmations": _list(_object({"name": {"type": "string"}, "at": _TIME})),
                        "reflections": _list({"type": "object"}),
                    }
                ),
                _ID,
            ),
            "/api/meetings": _get(
                "upcoming and recent meetings",
                _object({"upcoming": _list(_MEETING), "recent": _list(_MEETING)}),
            ),
            "/api/meetings/{id}": _get(
                "a meeting's attendance",
                _object(
                    {
                        "id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "title": {"type": "string"},
                        "starts_at": _TIME,
                        "place": {"type": ["string", "null"]},
                        "status": {"type": "string"},
                        "attendance": _list(_PERSON),
                    }
                ),
                _ID,
            ),
            "/api/activities": _get(
                "open and recent volunteer activities",
                _object({"open": _list(_ACTIVITY), "recent": _list(_ACTIVITY)}),
            ),
            "/api/activities/{id}": _get(
                "an activity's roster and hours",
                _object(
                    {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "starts_at": _TIME,
                        "ends_at": _TIME,
                        "place": {"type": "string"},
                        "capacity": {"type": "integer"},
                        "status": {"type": "string"},
                        "confirmed": _list(_PERSON),
                        "offered": _list(_PERSON),
                        "waiting": _list(_PERSON),
                        "cancelled": {"type": "integer"},
                    }
                ),
                _ID,
            ),
            "/api/members": _get(
                "the members in scope, a page at a time (ordered by branch, group and name)",
                _object(
                    {
                        "scope": {"type": "string"},
                        "page": {"type": "integer", "minimum": 1},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        "total": {"type": "integer", "minimum": 0},
                        "pages": {"type": "integer", "minimum": 1},
                        "members": _list({"type": "object"}),
                    }
                ),
                _BRANCH,
                _PAGE,
                _LIMIT,
            ),
            "/api/checkin/{kind}/{id}": _get(
                "this minute's check-in code for a meeting or an activity",
                _object(
                    {
                        "title": {"type": "string"},
                        "code": {"type": "string", "pattern": "^[0-9]{6}$"},
                        "start_param": {"type": "string"},
                        "valid_until": _TIME,
                        "closes": _TIME,
                    }
                ),
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["meeting", "activity"]},
                },
                _ID,
                {
                    "name": "dir",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["in", "out"]},
                },
            ),
        },
    }

"""The dashboard's JSON API refuses a year out of range with its documented JSON error, not a
500 in plain text ("Hardening" issue)."""

from __future__ import annotations

from aiohttp import ClientSession, CookieJar

from tests.web.conftest import Site


async def test_the_api_refuses_a_year_out_of_range_as_json(site: Site) -> None:
    token = (await site.link(site.scenario.secretary)).split("t=")[1]
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as client:
        login = await client.post(
            f"{site.url}/dashboard/login", data={"t": token}, allow_redirects=False
        )
        assert login.status in (302, 303), await login.text()
        good = await client.get(f"{site.url}/api/overview", params={"period": "2026-H2"})
        assert good.status == 200
        for period in ("0000", "9999-12", "9999-Q4"):
            answer = await client.get(f"{site.url}/api/overview", params={"period": period})
            assert answer.status == 400, (period, await answer.text())
            assert answer.content_type == "application/json"
            body = await answer.json()
            assert body["error"] == "date.year_range", body
            assert "2000" in body["message"] and "2100" in body["message"], body

"""Login and sign-up refuse cross-site posts; the page sends users only to paths of this site."""

from __future__ import annotations

import html
import re

import pytest

EVIL = "https://evil.example"


def _signup_body(n: int) -> dict[str, str]:
    return {"email": f"csrf{n}@example.com", "password": "password123", "display_name": "C"}


async def test_login_from_another_site_is_refused(client, make_user):
    user = await make_user("viewer")
    body = {"email": user.email, "password": user.password}

    form = await client.post("/api/auth/login", data=body, headers={"Origin": EVIL})
    as_json = await client.post("/api/auth/login", json=body, headers={"Origin": EVIL})
    by_referer = await client.post("/api/auth/login", json=body,
                                   headers={"Referer": f"{EVIL}/phish"})
    opaque = await client.post("/api/auth/login", json=body, headers={"Origin": "null"})

    for response in (form, as_json, by_referer, opaque):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "bad_origin"
        assert "set-cookie" not in response.headers


async def test_login_from_the_apps_own_pages_and_from_api_clients_works(client, make_user):
    user = await make_user("viewer")
    body = {"email": user.email, "password": user.password}

    own_form = await client.post("/api/auth/login", data=body,
                                 headers={"Origin": "http://127.0.0.1:8000"})
    own_referer = await client.post("/api/auth/login", json=body,
                                    headers={"Referer": "http://localhost:8000/login?next=/host"})
    # no Origin and no Referer: not a browser, so not someone else's visitor
    api_client = await client.post("/api/auth/login", json=body)

    assert [r.status_code for r in (own_form, own_referer, api_client)] == [200, 200, 200]


async def test_signup_from_another_site_is_refused(client):
    form = await client.post("/api/auth/signup", data=_signup_body(1), headers={"Origin": EVIL})
    as_json = await client.post("/api/auth/signup", json=_signup_body(2),
                                headers={"Referer": f"{EVIL}/"})
    own = await client.post("/api/auth/signup", json=_signup_body(3),
                            headers={"Origin": "http://127.0.0.1:8000"})

    assert form.status_code == as_json.status_code == 403
    assert form.json()["error"]["code"] == "bad_origin"
    assert own.status_code == 201


def _next_of(page: str) -> str:
    found = re.search(r'data-next="([^"]*)"', page)
    assert found, "the form carries where to go next"
    return html.unescape(found.group(1))


NASTY_NEXT = [
    "/%09/evil.example/phish",  # percent-encoded once more than the reported link
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",  # // once decoded again
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /x",
    "/\u200b/evil.example",
    "/\u2028/evil.example",
    "/\x00/evil.example",
    "/" + "a" * 5000,
    "",
]


async def test_the_reported_open_redirect_goes_home(client):
    # As typed in the report: the server decodes %09 to a tab, which browsers drop from a
    # URL, and `/\t/evil.example/phish` would become `//evil.example/phish`.
    page = await client.get("/login?next=/%09/evil.example/phish")

    assert _next_of(page.text) == "/"


@pytest.mark.parametrize("path", ["/login", "/signup"])
async def test_next_accepts_only_paths_of_this_site(client, path):
    for nasty in NASTY_NEXT:
        page = await client.get(path, params={"next": nasty})
        assert page.status_code == 200
        assert _next_of(page.text) == "/", nasty

    for fine in ["/host", "/rooms/12", "/rooms/12?tab=chat#buy", "/host/rooms/3"]:
        page = await client.get(path, params={"next": fine})
        assert _next_of(page.text) == fine

"""The course's weather API, secured by one changed import line: the README walk-through
(401 -> 403 -> 201 -> 200) and each class of bad token, with status, challenge and body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support import ALICE_OID, GRAPH_APP_ID, OTHER_TENANT_ID, Issuer, problem, tamper_signature

REPORT = {"description": "Sunny and warm", "location": {"city": "Portland", "state": "OR", "country": "US"}}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_home_page_is_public(app_url):
    r = httpx.get(f"{app_url}/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Weather Service API" in r.text


def test_walkthrough_401_403_201_200(app_url, issuer: Issuer):
    # 1. No token: 401 with the bare challenge and a problem body saying how to send one.
    r = httpx.get(f"{app_url}/api/reports")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert problem(r.content)["code"] == "missing_token"

    # 2. A reader posts: 403, the view's own response from the caught AuthError, now with the
    #    RFC 6750 challenge naming the scope, and the explained message as its body.
    reader = issuer.mint("--scope", "weather.read")
    r = httpx.post(f"{app_url}/api/reports", json=REPORT, headers=bearer(reader))
    assert r.status_code == 403
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="weather.write"' in r.headers["www-authenticate"]
    assert "weather.write" in r.text and "IDW10203" in r.text

    # 3. A writer posts: 201 with the report.
    writer = issuer.mint("--scope", "weather.write")
    r = httpx.post(f"{app_url}/api/reports", json=REPORT, headers=bearer(writer))
    assert r.status_code == 201
    created = r.json()
    assert created["description"] == "Sunny and warm" and created["id"]

    # 4. The reader lists it: 200.
    r = httpx.get(f"{app_url}/api/reports", headers=bearer(reader))
    assert r.status_code == 200
    assert created["id"] in [x["id"] for x in r.json()]
    assert "www-authenticate" not in r.headers


def test_weather_for_a_reader_comes_from_openweather(app_url, issuer: Issuer):
    r = httpx.get(f"{app_url}/api/weather/portland", params={"state": "OR", "units": "imperial"},
                  headers=bearer(issuer.mint("--scope", "weather.read")))
    assert r.status_code == 200
    assert r.json()["temp"] == 61.5


def test_weather_for_a_writer_only_is_403_with_challenge(app_url, issuer: Issuer):
    r = httpx.get(f"{app_url}/api/weather/portland", headers=bearer(issuer.mint("--scope", "weather.write")))
    assert r.status_code == 403
    assert 'scope="weather.read"' in r.headers["www-authenticate"]
    assert "weather.read" in r.text


def test_app_only_token_with_a_role_of_the_scopes_name_passes(app_url, issuer: Issuer):
    ok = httpx.get(f"{app_url}/api/reports", headers=bearer(issuer.mint("--app", "--role", "weather.read")))
    assert ok.status_code == 200
    no = httpx.get(f"{app_url}/api/reports", headers=bearer(issuer.mint("--app", "--role", "Other.Role")))
    assert no.status_code == 403
    assert no.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


def test_delegated_token_with_roles_still_needs_the_scope(app_url, issuer: Issuer):
    # The original ignored scp whenever roles was present.
    r = httpx.get(f"{app_url}/api/reports",
                  headers=bearer(issuer.mint("--scope", "weather.read", "--role", "Some.Role")))
    assert r.status_code == 200


@pytest.mark.parametrize("case, code, words", [
    ("expired", "token_expired", "expired"),
    ("audience", "audience_mismatch", "audience"),
    ("issuer", "issuer_mismatch", "issuer"),
    ("signature", "invalid_signature", "signature"),
    ("unknown_key", "unknown_signing_key", "kid"),
    ("graph", "token_for_other_resource", "Graph"),
    ("id_token", "id_token_as_access_token", "ID token"),
])
def test_bad_tokens_get_their_own_401(app_url, issuer: Issuer, foreign_keys: Path, case, code, words):
    token = {
        "expired": lambda: issuer.mint("--expired"),
        "audience": lambda: issuer.mint("--audience", "api://another-api"),
        "issuer": lambda: issuer.mint("--tenant", OTHER_TENANT_ID),
        "signature": lambda: tamper_signature(issuer.mint()),
        "unknown_key": lambda: issuer.mint(data_dir=foreign_keys),
        "graph": lambda: issuer.mint("--audience", GRAPH_APP_ID),
        "id_token": lambda: issuer.mint("--claim", "nonce=n-0S6", "--claim", "scp=null"),
    }[case]()
    r = httpx.get(f"{app_url}/api/weather/portland", headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    doc = problem(r.content)
    assert (doc["status"], doc["code"]) == (401, code)
    assert words in doc["detail"]
    assert "Unable to find appropriate key" not in r.text


def test_keys_are_fetched_once_not_per_request(app_url, issuer: Issuer):
    token = issuer.mint("--scope", "weather.read")
    assert httpx.get(f"{app_url}/api/reports", headers=bearer(token)).status_code == 200
    before = issuer.stats()["key_requests"]
    for _ in range(20):
        assert httpx.get(f"{app_url}/api/reports", headers=bearer(issuer.mint("--scope", "weather.read"))).status_code == 200
    assert issuer.stats()["key_requests"] == before

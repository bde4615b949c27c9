"""The course's walk-through through the sidecar: 401 -> 403 -> 201 -> 200, and the weather fetched
through /DownstreamApi on behalf of the caller."""

from __future__ import annotations

import httpx

from support import Issuer, tamper_signature


def test_no_token_is_401_with_the_sidecars_challenge(app_url: str) -> None:
    r = httpx.get(f"{app_url}/api/reports")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"detail": "a valid bearer token is required"}


def test_tampered_token_is_401_invalid_token(app_url: str, issuer: Issuer) -> None:
    token = tamper_signature(issuer.mint("--scope", "weather.read"))
    r = httpx.get(f"{app_url}/api/reports", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_read_token_cannot_post_403_then_write_201_then_read_200(app_url: str, issuer: Issuer) -> None:
    read = issuer.mint("--scope", "weather.read")
    write = issuer.mint("--scope", "weather.write")
    body = {"description": "Misty sunrise", "location": {"city": "Portland", "state": "OR"}}
    r = httpx.post(f"{app_url}/api/reports", json=body, headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="weather.write"'
    assert "IDW10203" in r.json()["detail"]
    r = httpx.post(f"{app_url}/api/reports", json=body, headers={"Authorization": f"Bearer {write}"})
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "Misty sunrise"
    r = httpx.get(f"{app_url}/api/reports", headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 200
    assert any(rep["description"] == "Misty sunrise" for rep in r.json())


def test_weather_comes_through_the_sidecars_downstream_call(app_url: str, issuer: Issuer) -> None:
    read = issuer.mint("--scope", "weather.read")
    before = issuer.stats()
    r = httpx.get(f"{app_url}/api/weather/portland?state=OR&units=imperial",
                  headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 200, r.text
    assert r.json()["temp"] == 61.5
    after = issuer.stats()
    # The sidecar asked the issuer for an on-behalf-of token for the downstream API.
    assert after["token_requests"] == before["token_requests"] + 1


def test_weather_for_an_unknown_city_is_502_naming_the_downstream_status(app_url: str, issuer: Issuer) -> None:
    read = issuer.mint("--scope", "weather.read")
    r = httpx.get(f"{app_url}/api/weather/unknowncity", headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 502
    assert r.json() == {"detail": "the weather service answered 404"}

"""The course's API (entra_auth.compat.fastapi_microsoft_identity) where the example app does not
go: an AuthError the view lets through, claims read in the view, views without the decorator,
B2C, the signature checks of the decorator."""

from __future__ import annotations

from typing import Iterator

import fastapi
import httpx
import pytest
from fastapi import Request

import entra_auth
from entra_auth.compat import fastapi_microsoft_identity as fmi
from support import ALICE_OID, API_CLIENT_ID, TENANT_ID, Issuer, Served, problem, tamper_signature


def make_app() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/uncaught")
    @fmi.requires_auth
    async def uncaught(request: Request):
        fmi.validate_scope(required_scope="weather.write", request=request)
        return {"ok": True}

    @app.get("/claims")
    @fmi.requires_auth
    async def claims(request: Request):
        return fmi.get_token_claims(request)

    @app.get("/own-403")
    @fmi.requires_auth
    async def own(request: Request):
        try:
            raise fmi.AuthError("only on Tuesdays", 403)
        except fmi.AuthError as ae:
            return fastapi.Response(content=ae.error_msg, status_code=ae.status_code)

    @app.get("/undecorated")
    async def undecorated(request: Request):
        try:
            fmi.validate_scope("weather.read", request)
            return {"oid": fmi.get_token_claims(request)["oid"]}
        except fmi.AuthError as ae:
            return fastapi.Response(content=ae.error_msg, status_code=ae.status_code)

    @app.get("/b2c")
    @fmi.requires_b2c_auth
    async def b2c(request: Request):
        return {"tfp": fmi.get_token_claims(request).get("tfp")}

    return app


@pytest.fixture(scope="module")
def url(issuer: Issuer) -> Iterator[str]:
    fmi.initialize(TENANT_ID, API_CLIENT_ID, b2c_policy_name_="B2C_1_signin",
                   b2c_domain_name_="devb2c", instance_=issuer.instance)
    served = Served(make_app())
    yield served.url
    served.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_uncaught_auth_error_keeps_its_403_and_challenge(url, issuer: Issuer):
    # The original answered every uncaught AuthError with 401 "Unable to find appropriate key".
    r = httpx.get(f"{url}/uncaught", headers=bearer(issuer.mint("--scope", "weather.read")))
    assert r.status_code == 403
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="weather.write"' in r.headers["www-authenticate"]
    assert "IDW10203" in r.text


def test_get_token_claims_returns_verified_claims(url, issuer: Issuer):
    r = httpx.get(f"{url}/claims", headers=bearer(issuer.mint("--scope", "weather.read")))
    assert r.status_code == 200
    assert r.json()["oid"] == ALICE_OID and r.json()["aud"] == API_CLIENT_ID


def test_view_built_403_from_its_own_auth_error_gets_a_challenge(url, issuer: Issuer):
    r = httpx.get(f"{url}/own-403", headers=bearer(issuer.mint()))
    assert (r.status_code, r.text) == (403, "only on Tuesdays")
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


def test_validate_scope_without_the_decorator_verifies_the_token(url, issuer: Issuer):
    ok = httpx.get(f"{url}/undecorated", headers=bearer(issuer.mint("--scope", "weather.read")))
    assert (ok.status_code, ok.json()) == (200, {"oid": ALICE_OID})
    # The original decoded the token without verifying it: a forged signature passed.
    forged = httpx.get(f"{url}/undecorated", headers=bearer(tamper_signature(issuer.mint("--scope", "weather.read"))))
    assert forged.status_code == 401
    assert forged.text == "the token signature is invalid"


def test_b2c_decorator_accepts_the_user_flows_tokens_only(url, issuer: Issuer):
    ok = httpx.get(f"{url}/b2c", headers=bearer(issuer.mint("--b2c-policy", "B2C_1_signin")))
    assert (ok.status_code, ok.json()) == (200, {"tfp": "B2C_1_signin"})
    workforce = httpx.get(f"{url}/b2c", headers=bearer(issuer.mint()))
    assert workforce.status_code == 401
    assert problem(workforce.content)["code"] == "issuer_mismatch"


def test_decorator_refuses_sync_views_and_views_without_request():
    with pytest.raises(TypeError):
        fmi.requires_auth(lambda request: None)

    @fmi.requires_auth
    async def no_request(x: int):
        return x

    import asyncio
    with pytest.raises(TypeError) as ei:
        asyncio.run(no_request(x=1))
    assert "request: Request" in str(ei.value)


def test_initialize_refuses_a_bad_client_id():
    with pytest.raises(entra_auth.ConfigError):
        fmi.initialize(TENANT_ID, "not-a-guid")

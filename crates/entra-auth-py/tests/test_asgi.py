"""Any ASGI app: EntraAuthMiddleware in front of a plain Starlette app, served by uvicorn over
real HTTP."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from entra_auth import Requirement
from entra_auth.asgi import EntraAuthMiddleware
from support import ALICE_OID, Issuer, Served, problem, tamper_signature


async def whoami(request: Request) -> JSONResponse:
    claims = request.state.claims
    return JSONResponse({"oid": claims.oid if claims else None,
                         "same": request.scope["entra_auth.claims"] is claims})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/whoami", whoami), Route("/healthz", healthz)])


@pytest.fixture(scope="module")
def server(validator) -> Iterator[str]:
    app = EntraAuthMiddleware(starlette_app(), validator, Requirement.scopes(["weather.read"]),
                              exclude_paths=["/healthz"])
    s = Served(app)
    yield s.url
    s.stop()


@pytest.fixture(scope="module")
def optional_server(validator) -> Iterator[str]:
    s = Served(EntraAuthMiddleware(starlette_app(), validator, optional=True))
    yield s.url
    s.stop()


def test_request_without_token_is_401_with_bare_challenge_and_problem_body(server):
    r = httpx.get(f"{server}/whoami")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["cache-control"] == "no-store"
    assert problem(r.content)["code"] == "missing_token"


def test_token_without_the_scope_is_403_naming_the_scope(server, issuer: Issuer):
    r = httpx.get(f"{server}/whoami", headers={"Authorization": f"Bearer {issuer.mint('--scope', 'weather.write')}"})
    assert r.status_code == 403
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="weather.read"' in r.headers["www-authenticate"]
    assert problem(r.content)["code"] == "insufficient_scope"


def test_tampered_token_is_401_invalid_signature(server, issuer: Issuer):
    r = httpx.get(f"{server}/whoami", headers={"Authorization": f"Bearer {tamper_signature(issuer.mint())}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert problem(r.content)["code"] == "invalid_signature"


def test_valid_token_reaches_the_app_with_claims_in_request_state(server, issuer: Issuer):
    r = httpx.get(f"{server}/whoami", headers={"Authorization": f"Bearer {issuer.mint('--scope', 'weather.read')}"})
    assert r.status_code == 200
    assert r.json() == {"oid": ALICE_OID, "same": True}
    assert "www-authenticate" not in r.headers


def test_two_authorization_headers_are_400(server, issuer: Issuer):
    t = issuer.mint("--scope", "weather.read")
    r = httpx.get(f"{server}/whoami", headers=[("Authorization", f"Bearer {t}"), ("Authorization", f"Bearer {t}")])
    assert r.status_code == 400
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_request"')
    assert problem(r.content)["code"] == "invalid_request"


def test_excluded_path_is_served_without_a_token(server):
    r = httpx.get(f"{server}/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_optional_middleware_passes_anonymous_requests_but_refuses_bad_tokens(optional_server, issuer: Issuer):
    anonymous = httpx.get(f"{optional_server}/whoami")
    assert (anonymous.status_code, anonymous.json()) == (200, {"oid": None, "same": True})
    bad = httpx.get(f"{optional_server}/whoami", headers={"Authorization": f"Bearer {issuer.mint('--expired')}"})
    assert bad.status_code == 401
    assert problem(bad.content)["code"] == "token_expired"
    good = httpx.get(f"{optional_server}/whoami", headers={"Authorization": f"Bearer {issuer.mint()}"})
    assert good.json()["oid"] == ALICE_OID

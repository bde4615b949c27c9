"""FastAPI-native: Security(auth, scopes=[...]), Depends(auth.require(...)), optional
authentication, typed claims, the OpenAPI security scheme with PKCE, problem+json answers."""

from __future__ import annotations

from typing import Iterator, Optional

import httpx
import pytest
from fastapi import Depends, FastAPI, Security

from entra_auth import Claims, Requirement, Validator
from entra_auth.fastapi import EntraAuth, add_problem_handler
from support import ALICE_OID, API_CLIENT_ID, TENANT_ID, Issuer, Served, problem

SWAGGER_CLIENT = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e"


def make_app(validator: Validator) -> FastAPI:
    auth = EntraAuth(validator, tenant_id=TENANT_ID,
                     scopes={"weather.read": "Read the weather", "weather.write": "Write reports"})
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth(SWAGGER_CLIENT))
    add_problem_handler(app)
    reader_or_daemon = auth.require(Requirement.scopes(["weather.read"]).or_roles(["Weather.Read.All"]))

    @app.get("/forecast")
    async def forecast(claims: Claims = Security(auth, scopes=["weather.read"])):
        return {"oid": claims.oid, "scopes": claims.scopes}

    @app.post("/reports")
    async def post(claims: Claims = Security(auth, scopes=["weather.read", "weather.write"])):
        return {"by": claims.oid}

    @app.get("/either")
    async def either(claims: Claims = Depends(reader_or_daemon)):
        return {"app_only": claims.is_app_only}

    @app.get("/hello")
    async def hello(claims: Optional[Claims] = Depends(auth.optional)):
        return {"hello": claims.name if claims else "stranger"}

    return app


@pytest.fixture(scope="module")
def url(validator) -> Iterator[str]:
    served = Served(make_app(validator))
    yield served.url
    served.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_security_scope_admits_a_reader_with_typed_claims(url, issuer: Issuer):
    r = httpx.get(f"{url}/forecast", headers=bearer(issuer.mint("--scope", "weather.read")))
    assert r.status_code == 200
    assert r.json() == {"oid": ALICE_OID, "scopes": ["weather.read"]}


def test_no_token_is_401_problem_json_with_challenge(url):
    r = httpx.get(f"{url}/forecast")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    assert problem(r.content)["code"] == "missing_token"


def test_security_scopes_are_all_required(url, issuer: Issuer):
    r = httpx.post(f"{url}/reports", headers=bearer(issuer.mint("--scope", "weather.write")))
    assert r.status_code == 403
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert problem(r.content)["code"] == "requirement_not_met"
    assert "weather.read" in problem(r.content)["detail"]
    both = issuer.mint("--scope", "weather.read", "--scope", "weather.write")
    assert httpx.post(f"{url}/reports", headers=bearer(both)).json() == {"by": ALICE_OID}


def test_required_scope_or_role_admits_users_and_daemons(url, issuer: Issuer):
    user = httpx.get(f"{url}/either", headers=bearer(issuer.mint("--scope", "weather.read")))
    daemon = httpx.get(f"{url}/either", headers=bearer(issuer.mint("--app", "--role", "Weather.Read.All")))
    assert (user.json(), daemon.json()) == ({"app_only": False}, {"app_only": True})
    other = httpx.get(f"{url}/either", headers=bearer(issuer.mint("--app", "--role", "Nope")))
    assert other.status_code == 403
    assert 'scope="weather.read"' in other.headers["www-authenticate"]


def test_optional_auth_greets_strangers_and_refuses_bad_tokens(url, issuer: Issuer):
    assert httpx.get(f"{url}/hello").json() == {"hello": "stranger"}
    assert httpx.get(f"{url}/hello", headers=bearer(issuer.mint())).json() == {"hello": "Alice Example"}
    bad = httpx.get(f"{url}/hello", headers=bearer(issuer.mint("--expired")))
    assert bad.status_code == 401
    assert problem(bad.content)["code"] == "token_expired"


def test_openapi_declares_the_authorization_code_flow_and_docs_use_pkce(url, issuer: Issuer):
    doc = httpx.get(f"{url}/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["EntraAuth"]
    flow = scheme["flows"]["authorizationCode"]
    assert scheme["type"] == "oauth2"
    assert flow["authorizationUrl"] == f"{issuer.instance}{TENANT_ID}/oauth2/v2.0/authorize"
    assert flow["tokenUrl"] == f"{issuer.instance}{TENANT_ID}/oauth2/v2.0/token"
    assert set(flow["scopes"]) == {f"api://{API_CLIENT_ID}/weather.read", f"api://{API_CLIENT_ID}/weather.write"}
    assert doc["paths"]["/forecast"]["get"]["security"] == [{"EntraAuth": ["weather.read"]}]
    docs = httpx.get(f"{url}/docs").text
    assert '"usePkceWithAuthorizationCodeGrant": true' in docs
    assert SWAGGER_CLIENT in docs

"""FastAPI + entra_auth (this workspace's Python package), validating tokens of the local issuer.

Environment: ISSUER_URL (the entra-dev instance, e.g. http://127.0.0.1:PORT/), TENANT_ID, CLIENT_ID.
Routes: GET /api/open (no auth: the unprotected ceiling of the same app), GET /api/reports
(scope weather.read through Security(...), as app.py's fastapi-azure-auth route) and
GET /api/noop-dependency (a Security dependency that checks nothing: the ceiling of any dependency-based
check); all return [].
``app_mw`` is the same FastAPI app without the dependency, behind EntraAuthMiddleware (scope
weather.read on every path but /healthz and /api/open): the ASGI way.
"""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Security
from fastapi.security import SecurityScopes

from entra_auth import Claims, Requirement, Validator
from entra_auth.asgi import EntraAuthMiddleware
from entra_auth.fastapi import EntraAuth, add_problem_handler

ISSUER_URL = os.environ["ISSUER_URL"]
TENANT_ID = os.environ["TENANT_ID"]
CLIENT_ID = os.environ["CLIENT_ID"]

validator = Validator(TENANT_ID, CLIENT_ID, instance=ISSUER_URL)
auth = EntraAuth(validator, tenant_id=TENANT_ID, scopes={"weather.read": "weather.read"})


@asynccontextmanager
async def lifespan(app: FastAPI):
    validator.warm_up()
    yield


app = FastAPI(lifespan=lifespan)
add_problem_handler(app)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/api/open")
async def open_reports():
    return []


@app.get("/api/reports")
async def reports(claims: Claims = Security(auth, scopes=["weather.read"])):
    return []


async def noop_security(request: Request, security_scopes: SecurityScopes) -> str:
    """A Security dependency that checks nothing: what FastAPI's dependency machinery alone costs."""
    return request.headers.get("authorization", "")


@app.get("/api/noop-dependency")
async def noop_dependency(_: str = Security(noop_security, scopes=["weather.read"])):
    return []


plain = FastAPI(lifespan=lifespan)


@plain.get("/healthz")
async def plain_healthz():
    return {"status": "ok"}


@plain.get("/api/open")
async def plain_open():
    return []


@plain.get("/api/reports")
async def plain_reports():
    return []


app_mw = EntraAuthMiddleware(plain, validator, Requirement.scopes(["weather.read"]),
                             exclude_paths=["/healthz", "/api/open"])

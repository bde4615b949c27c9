"""The Python peer: FastAPI + fastapi-azure-auth, validating tokens of the same local issuer.

Environment: ISSUER_URL (the entra-dev instance, e.g. http://127.0.0.1:PORT/), TENANT_ID, CLIENT_ID.
Routes mirror the Rust pair: GET /healthz (public) and GET /api/reports (scope weather.read; returns
an empty list, no database).
"""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Security
from fastapi_azure_auth.auth import AzureAuthorizationCodeBearerBase

ISSUER_URL = os.environ["ISSUER_URL"]
TENANT_ID = os.environ["TENANT_ID"]
CLIENT_ID = os.environ["CLIENT_ID"]

# The base class is the one that takes openid_config_url (the single-tenant subclass always asks
# login.microsoftonline.com); everything else is the library's single-tenant behaviour.
azure_scheme = AzureAuthorizationCodeBearerBase(
    app_client_id=CLIENT_ID,
    tenant_id=TENANT_ID,
    scopes={f"api://{CLIENT_ID}/weather.read": "weather.read"},
    openid_config_url=f"{ISSUER_URL}{TENANT_ID}/v2.0/.well-known/openid-configuration",
)


@asynccontextmanager
async def lifespan(app: FastAPI):
    await azure_scheme.openid_config.load_config()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.get("/api/reports", dependencies=[Security(azure_scheme, scopes=["weather.read"])])
async def reports():
    return []

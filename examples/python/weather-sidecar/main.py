"""The course's weather API secured by entra-sidecar (or Microsoft's auth sidecar: same HTTP contract)
instead of a Python identity library: every request's token is checked by the sidecar's `/Validate`,
the scope is checked on the verified claims it returns, and the current weather is fetched through the
sidecar's `/DownstreamApi/weather` on behalf of the caller (the sidecar attaches the downstream token).

The reports and the home page are the course's own code, from ../weather. Settings (environment):
SIDECAR_URL (default http://127.0.0.1:5000), SIDECAR_SECRET (when the sidecar sets Sidecar:CallerSecret).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import fastapi
import httpx
from fastapi import Depends, Request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "weather"))

from models.reports import Report, ReportSubmittal  # noqa: E402
from services import report_service  # noqa: E402
from views import home  # noqa: E402

SIDECAR_URL = os.environ.get("SIDECAR_URL", "http://127.0.0.1:5000").rstrip("/")
SIDECAR_SECRET = os.environ.get("SIDECAR_SECRET")

api = fastapi.FastAPI()
api.include_router(home.router)


class Denied(Exception):
    """A 401/403 to answer with the sidecar's challenge."""

    def __init__(self, status: int, challenge: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.challenge, self.detail = status, challenge, detail


@api.exception_handler(Denied)
async def denied(_: Request, exc: Denied) -> fastapi.Response:
    return fastapi.responses.JSONResponse(
        {"detail": exc.detail}, status_code=exc.status, headers={"WWW-Authenticate": exc.challenge}
    )


def _sidecar_headers(request: Request) -> Dict[str, str]:
    headers = {}
    auth = request.headers.get("authorization")
    if auth:
        headers["Authorization"] = auth
    if SIDECAR_SECRET:
        headers["X-Sidecar-Secret"] = SIDECAR_SECRET
    return headers


def require_scope(scope: str):
    """A dependency: the caller's verified claims, once the sidecar accepted the token and the
    token holds `scope` (exact match, in `scp`)."""

    async def check(request: Request) -> Dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"{SIDECAR_URL}/Validate", headers=_sidecar_headers(request))
        if r.status_code == 401:
            raise Denied(401, r.headers.get("www-authenticate", "Bearer"), "a valid bearer token is required")
        if r.status_code != 200:
            raise fastapi.HTTPException(503, f"the token could not be checked (sidecar answered {r.status_code})")
        claims = r.json()["claims"]
        scopes = str(claims.get("scp", "")).split()
        if scope not in scopes:
            raise Denied(
                403,
                f'Bearer error="insufficient_scope", scope="{scope}"',
                f'IDW10203: the "scope" or "scp" claim does not contain scope {scope}',
            )
        return claims

    return check


@api.get("/api/weather/{city}")
async def weather(request: Request, city: str, state: Optional[str] = None, country: str = "US",
                  units: str = "metric", _: Dict[str, Any] = Depends(require_scope("weather.read"))):
    q = ",".join(part for part in (city, state, country) if part)
    params = {"optionsOverride.ExtraQueryParameters.q": q, "optionsOverride.ExtraQueryParameters.units": units}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{SIDECAR_URL}/DownstreamApi/weather", params=params,
                              headers=_sidecar_headers(request))
    if r.status_code != 200:
        # The sidecar's problem (401: the identity provider refused the on-behalf-of request).
        return fastapi.Response(r.content, status_code=r.status_code, media_type="application/problem+json")
    result = r.json()
    if result["statusCode"] != 200 or result["content"] is None:
        raise fastapi.HTTPException(502, f"the weather service answered {result['statusCode']}")
    return json.loads(result["content"])["main"]


@api.get("/api/reports", response_model=List[Report])
async def reports_get(_: Dict[str, Any] = Depends(require_scope("weather.read"))) -> List[Report]:
    return await report_service.get_reports()


@api.post("/api/reports", status_code=201, response_model=Report)
async def reports_post(report_submittal: ReportSubmittal,
                       _: Dict[str, Any] = Depends(require_scope("weather.write"))) -> Report:
    return await report_service.add_report(report_submittal.description, report_submittal.location)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(api, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))

"""The lecture's secured weather API: one changed import line (entra_auth.compat instead of
fastapi_microsoft_identity); everything else as the course wrote it."""

from typing import List, Optional

import fastapi
from fastapi import Depends, Request

from entra_auth.compat.fastapi_microsoft_identity import AuthError, requires_auth, validate_scope
from models.location import Location
from models.reports import Report, ReportSubmittal
from models.validation_error import ValidationError
from services import openweather_service, report_service

router = fastapi.APIRouter()
read_scope = "weather.read"
write_scope = "weather.write"


@router.get("/api/weather/{city}")
@requires_auth
async def weather(request: Request, loc: Location = Depends(), units: Optional[str] = "metric"):
    try:
        validate_scope(read_scope, request)
        return await openweather_service.get_report_async(loc.city, loc.state, loc.country, units)
    except AuthError as ae:
        return fastapi.Response(content=ae.error_msg, status_code=ae.status_code)
    except ValidationError as ve:
        return fastapi.Response(content=ve.error_msg, status_code=ve.status_code)
    except Exception as x:
        return fastapi.Response(content=str(x), status_code=500)


@router.get("/api/reports", name="all_reports", response_model=List[Report])
@requires_auth
async def reports_get(request: Request) -> List[Report]:
    try:
        validate_scope(read_scope, request)
        return await report_service.get_reports()
    except AuthError as ae:
        return fastapi.Response(content=ae.error_msg, status_code=ae.status_code)


@router.post("/api/reports", name="add_report", status_code=201, response_model=Report)
@requires_auth
async def reports_post(request: Request, report_submittal: ReportSubmittal) -> Report:
    try:
        validate_scope(write_scope, request)
        d = report_submittal.description
        loc = report_submittal.location
        return await report_service.add_report(d, loc)
    except AuthError as ae:
        return fastapi.Response(content=ae.error_msg, status_code=ae.status_code)

import fastapi
from starlette.responses import HTMLResponse

router = fastapi.APIRouter()

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Weather Service API</title></head>
<body>
<h1>Weather Service API</h1>
<p>A RESTful weather service, secured with the Microsoft identity platform.</p>
<ul>
  <li><a href="/api/weather/portland?state=OR&amp;country=US">/api/weather/{city}?state=OR&amp;country=US&amp;units=imperial</a> (scope weather.read)</li>
  <li>GET /api/reports (scope weather.read), POST /api/reports (scope weather.write)</li>
</ul>
</body>
</html>
"""


@router.get("/", include_in_schema=False)
def index():
    return HTMLResponse(PAGE)


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return fastapi.Response(status_code=204)

from typing import Optional, Tuple

import httpx
from httpx import Response

from models.validation_error import ValidationError

api_key: Optional[str] = None
base_url = "https://api.openweathermap.org"

# The course's in-memory cache: (city, state, country, units) -> report.
_cache: dict = {}


def _key(city: str, state: Optional[str], country: str, units: str) -> Tuple[str, Optional[str], str, str]:
    return city.strip().lower(), (state or "").strip().lower() or None, country.strip().lower(), units.strip().lower()


async def get_report_async(city: str, state: Optional[str], country: str, units: str) -> dict:
    city, state, country, units = validate_units(city, state, country, units)
    key = _key(city, state, country, units)
    if key in _cache:
        return _cache[key]
    q = f"{city},{state},{country}" if state else f"{city},{country}"
    url = f"{base_url}/data/2.5/weather"
    async with httpx.AsyncClient() as client:
        resp: Response = await client.get(url, params={"q": q, "appid": api_key, "units": units})
        if resp.status_code != 200:
            raise ValidationError(resp.text, status_code=resp.status_code)
    forecast = resp.json()["main"]
    _cache[key] = forecast
    return forecast


def validate_units(city: str, state: Optional[str], country: Optional[str], units: str) -> Tuple[str, Optional[str], str, str]:
    city = city.lower().strip()
    country = (country or "us").lower().strip()
    if len(country) != 2:
        raise ValidationError(f"Invalid country: {country}. It must be a two letter abbreviation such as US or GB.", status_code=400)
    if state:
        state = state.strip().lower()
    if state and len(state) != 2:
        raise ValidationError(f"Invalid state: {state}. It must be a two letter abbreviation such as CA or KS (use for US only).", status_code=400)
    units = (units or "metric").strip().lower()
    if units not in {"standard", "metric", "imperial"}:
        raise ValidationError(f"Invalid units '{units}', it must be one of standard, metric, or imperial.", status_code=400)
    return city, state, country, units

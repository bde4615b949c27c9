"""The course's weather API (Talk Python's "Modern APIs with FastAPI", chapter 8), secured as the
lecture "Securing FastAPI with Azure AD" does, with entra_auth's drop-in for
fastapi_microsoft_identity.

Settings come from settings.json beside this file (or the file named by WEATHER_SETTINGS):
``api_key`` (OpenWeatherMap), ``tenant_id``, ``client_id``, and optionally ``instance`` (the
identity provider's base URL, e.g. a local entra-dev issuer) and ``openweather_url``.
"""

import json
import os
from pathlib import Path

import fastapi

from api import weather_api
from entra_auth.compat.fastapi_microsoft_identity import initialize
from services import openweather_service
from views import home

api = fastapi.FastAPI()


def configure():
    configure_routing()
    configure_api_keys()
    configure_auth()


def _settings() -> dict:
    path = Path(os.environ.get("WEATHER_SETTINGS", Path(__file__).with_name("settings.json")))
    if not path.exists():
        print(f"WARNING: {path} not found, see settings_template.json")
        raise Exception(f"{path} file not found, you cannot continue, please see settings_template.json")
    return json.loads(path.read_text())


def configure_api_keys():
    settings = _settings()
    openweather_service.api_key = settings.get("api_key")
    if settings.get("openweather_url"):
        openweather_service.base_url = settings["openweather_url"]


def configure_auth():
    settings = _settings()
    initialize(settings["tenant_id"], settings["client_id"], instance_=settings.get("instance"))


def configure_routing():
    api.include_router(home.router)
    api.include_router(weather_api.router)


configure()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(api, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))

"""The weather example over real HTTP: entra-dev (issuer), the OpenWeatherMap stand-in
(e2e/openweather_stub.py) and the app under uvicorn, each on a port from the OS."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
APP_DIR = HERE.parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "crates" / "entra-auth-py" / "tests"))
sys.path.insert(0, str(APP_DIR))

from support import API_CLIENT_ID, TENANT_ID, Issuer, Served  # noqa: E402


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    running = Issuer(tmp_path_factory.mktemp("entra-dev"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def foreign_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("entra-dev-foreign")


@pytest.fixture(scope="session")
def openweather() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "e2e" / "openweather_stub.py")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    yield f"http://127.0.0.1:{int(line.split()[-1])}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def app_url(issuer: Issuer, openweather: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = tmp_path_factory.mktemp("weather") / "settings.json"
    settings.write_text(json.dumps({
        "api_key": "stub-key", "tenant_id": TENANT_ID, "client_id": API_CLIENT_ID,
        "instance": issuer.instance, "openweather_url": openweather,
    }))
    os.environ["WEATHER_SETTINGS"] = str(settings)
    main = importlib.import_module("main")
    served = Served(main.api)
    yield served.url
    served.stop()

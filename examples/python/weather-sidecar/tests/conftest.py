"""The sidecar variant over real HTTP: entra-dev (issuer), the OpenWeatherMap stand-in as the downstream
API, entra-sidecar (the binary, configured by environment as a deployment is) and the app under uvicorn,
each on a port from the OS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
APP_DIR = HERE.parent
ROOT = HERE.parents[3]
SIDECAR = Path(os.environ.get("ENTRA_SIDECAR_BIN", ROOT / "target" / "debug" / "entra-sidecar"))
sys.path.insert(0, str(ROOT / "crates" / "entra-auth-py" / "tests"))
sys.path.insert(0, str(APP_DIR))

from support import API_CLIENT_ID, TENANT_ID, Issuer, Served  # noqa: E402


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    running = Issuer(tmp_path_factory.mktemp("entra-dev"))
    yield running
    running.stop()


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
def sidecar(issuer: Issuer, openweather: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not SIDECAR.exists():
        raise RuntimeError(f"{SIDECAR} is missing: build it with `cargo build -p entra-sidecar`")
    workdir = tmp_path_factory.mktemp("sidecar")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AzureAd__Instance": issuer.instance,
        "AzureAd__TenantId": TENANT_ID,
        "AzureAd__ClientId": API_CLIENT_ID,
        "AzureAd__ClientCredentials__0__SourceType": "ClientSecret",
        "AzureAd__ClientCredentials__0__ClientSecret": "dev-api-secret",
        "DownstreamApis__weather__BaseUrl": f"{openweather}/data/2.5/",
        "DownstreamApis__weather__RelativePath": "weather",
        "DownstreamApis__weather__HttpMethod": "GET",
        "DownstreamApis__weather__Scopes__0": "api://b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd/downstream.read",
        "DownstreamApis__weather__ExtraQueryParameters__appid": "stub-key",
        "ASPNETCORE_URLS": "http://127.0.0.1:0",
    }
    proc = subprocess.Popen([str(SIDECAR)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "addr=" in line:
            url = "http://" + line.split("addr=")[1].split()[0]
            break
    if url is None:
        proc.kill()
        raise RuntimeError("entra-sidecar did not start")
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def app_url(sidecar: str) -> Iterator[str]:
    os.environ["SIDECAR_URL"] = sidecar
    import main

    main.SIDECAR_URL = sidecar
    served = Served(main.api)
    yield served.url
    served.stop()

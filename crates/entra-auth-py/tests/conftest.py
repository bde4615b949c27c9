"""Fixtures: one entra-dev issuer per session, a second key directory for "unknown key" tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import API_CLIENT_ID, TENANT_ID, Issuer  # noqa: E402

import entra_auth  # noqa: E402


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    running = Issuer(tmp_path_factory.mktemp("entra-dev"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def foreign_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key directory whose key the issuer never published (tokens signed with an unknown kid)."""
    return tmp_path_factory.mktemp("entra-dev-foreign")


@pytest.fixture(scope="session")
def validator(issuer: Issuer) -> entra_auth.Validator:
    v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance=issuer.instance)
    v.warm_up()
    return v

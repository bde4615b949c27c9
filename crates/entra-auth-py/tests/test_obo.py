"""On behalf of the caller: entra-token's confidential client from Python against the entra-dev
issuer's token endpoint (client credentials, on-behalf-of, the claims challenge as a 401
insufficient_claims, the Redis L2 cache shared by two clients)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import urllib.request
import uuid

import pytest

import entra_auth
from support import ALICE_OID, API_CLIENT_ID, ENTRA_DEV, TENANT_ID, Issuer

API_SECRET = "dev-api-secret"
DAEMON_ID = "c0ffee00-1111-4222-8333-444455556666"
DAEMON_SECRET = "dev-daemon-secret"
DOWNSTREAM_ID = "b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd"
DOWNSTREAM_URI = f"api://{DOWNSTREAM_ID}"


@pytest.fixture(scope="module")
def downstream(issuer: Issuer) -> entra_auth.Validator:
    v = entra_auth.Validator(TENANT_ID, DOWNSTREAM_ID, instance=issuer.instance)
    v.warm_up()
    return v


def client(issuer: Issuer, **extra) -> entra_auth.ConfidentialClient:
    return entra_auth.ConfidentialClient(TENANT_ID, API_CLIENT_ID, client_secret=API_SECRET,
                                         instance=issuer.instance, **extra)


def set_switches(issuer: Issuer, doc: dict) -> None:
    req = urllib.request.Request(f"{issuer.instance}control/switches", data=json.dumps(doc).encode(),
                                 method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_client_credentials_token_of_a_daemon_is_accepted_by_the_api(issuer: Issuer, validator):
    daemon = entra_auth.ConfidentialClient(TENANT_ID, DAEMON_ID, client_secret=DAEMON_SECRET, instance=issuer.instance)
    token = daemon.acquire_for_app([f"api://{API_CLIENT_ID}/.default"])
    claims = validator.validate(token.token)
    assert claims.is_app_only and claims.client_id == DAEMON_ID
    assert token.authorization == f"Bearer {token.token}"
    assert token.token not in repr(token)


def test_client_certificate_pfx_with_password_gets_an_app_token(tmp_path):
    # A PFX written by `entra-dev cert create`, its certificate registered on the daemon.
    subprocess.run(
        [str(ENTRA_DEV), "cert", "create", "--client-id", DAEMON_ID, "--format", "pfx",
         "--out", str(tmp_path), "--name", "daemon"],
        check=True, capture_output=True, timeout=120,
        env=dict(os.environ, ENTRA_DEV_CERT_PASSWORD="pfx-pass-7"),
    )
    issuer = Issuer(tmp_path / "issuer", "--client-certificate", f"{DAEMON_ID}={tmp_path / 'daemon.crt.pem'}")
    try:
        daemon = entra_auth.ConfidentialClient(
            TENANT_ID, DAEMON_ID, client_certificate=str(tmp_path / "daemon.pfx"),
            client_certificate_password="pfx-pass-7", instance=issuer.instance)
        token = daemon.acquire_for_app([f"api://{API_CLIENT_ID}/.default"])
        payload = json.loads(base64.urlsafe_b64decode(token.token.split(".")[1] + "=="))
        assert payload["azp"] == DAEMON_ID and payload["azpacr"] == "2", payload
        with pytest.raises(entra_auth.ConfigError) as ei:
            entra_auth.ConfidentialClient(
                TENANT_ID, DAEMON_ID, client_certificate=str(tmp_path / "daemon.pfx"),
                client_certificate_password="wrong-pass-9", instance=issuer.instance)
        assert "password does not decrypt" in str(ei.value) and "wrong-pass-9" not in str(ei.value)
        with pytest.raises(entra_auth.ConfigError):
            entra_auth.ConfidentialClient(TENANT_ID, DAEMON_ID, instance=issuer.instance)
    finally:
        issuer.stop()


def test_on_behalf_of_keeps_the_user_and_is_cached(issuer: Issuer, validator, downstream):
    c = client(issuer)
    incoming = issuer.mint("--scope", "weather.read")
    caller = validator.validate(incoming)
    first = c.acquire_on_behalf_of(caller, f"Bearer {incoming}", [f"{DOWNSTREAM_URI}/downstream.read"])
    before = issuer.stats()["on_behalf_of_requests"]
    again = c.acquire_on_behalf_of(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"])
    assert again.token == first.token
    assert issuer.stats()["on_behalf_of_requests"] == before
    claims = downstream.validate(first.token)
    assert (claims.oid, claims.scopes, claims.client_id) == (ALICE_OID, ["downstream.read"], API_CLIENT_ID)
    assert c.stats()["memory_hits"] == 1 and c.stats()["token_requests"] == 1


def test_on_behalf_of_async(issuer: Issuer, validator, downstream):
    c = client(issuer)
    incoming = issuer.mint("--scope", "weather.read")
    caller = validator.validate(incoming)
    token = asyncio.run(c.acquire_on_behalf_of_async(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"]))
    assert downstream.validate(token.token).oid == ALICE_OID


def test_mfa_for_the_downstream_api_is_a_401_insufficient_claims_for_the_caller(issuer: Issuer, validator):
    incoming = issuer.mint("--scope", "weather.read")
    caller = validator.validate(incoming)
    set_switches(issuer, {"mfa_required": [{"api": DOWNSTREAM_URI, "auth_context": "c1"}]})
    try:
        with pytest.raises(entra_auth.Unauthorized) as ei:
            client(issuer).acquire_on_behalf_of(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"])
    finally:
        set_switches(issuer, {})
    e = ei.value
    assert (e.status, e.code) == (401, "insufficient_claims")
    # Microsoft's claims challenge: where to sign in again (the issuer's authorize endpoint), then the claims.
    assert e.www_authenticate.startswith(
        f'Bearer realm="", authorization_uri="{issuer.instance}{TENANT_ID}/oauth2/v2.0/authorize", error="insufficient_claims", claims="'
    ), e.www_authenticate
    claims_attr = e.www_authenticate.split('claims="')[1].split('"')[0]
    assert json.loads(base64.b64decode(claims_attr))["access_token"]["acrs"]["value"] == "c1"


def test_app_only_caller_cannot_be_used_for_on_behalf_of(issuer: Issuer, validator):
    incoming = issuer.mint("--app", "--role", "Weather.Read.All")
    caller = validator.validate(incoming)
    with pytest.raises(entra_auth.TokenError) as ei:
        client(issuer).acquire_on_behalf_of(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"])
    assert ei.value.kind == "assertion"


def test_token_endpoint_refusal_is_a_token_error_with_the_aadsts_explanation(issuer: Issuer):
    bad = entra_auth.ConfidentialClient(TENANT_ID, API_CLIENT_ID, client_secret="not-the-s3cret-q7", instance=issuer.instance)
    with pytest.raises(entra_auth.TokenError) as ei:
        bad.acquire_for_app([f"{DOWNSTREAM_URI}/.default"])
    assert ei.value.kind == "rejected"
    assert "AADSTS7000215" in str(ei.value) and "not-the-s3cret-q7" not in str(ei.value)


def test_redis_l2_cache_serves_a_second_client(issuer: Issuer, validator):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("set TEST_REDIS_URL")
    key = base64.b64encode(os.urandom(32)).decode()
    prefix = f"entra-auth-py-test:{uuid.uuid4()}:"
    one = client(issuer, redis_url=url, redis_key=key, redis_prefix=prefix)
    two = client(issuer, redis_url=url, redis_key=key, redis_prefix=prefix)
    incoming = issuer.mint("--scope", "weather.read")
    caller = validator.validate(incoming)
    first = one.acquire_on_behalf_of(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"])
    before = issuer.stats()["on_behalf_of_requests"]
    second = two.acquire_on_behalf_of(caller, incoming, [f"{DOWNSTREAM_URI}/downstream.read"])
    assert second.token == first.token
    assert issuer.stats()["on_behalf_of_requests"] == before
    assert two.stats()["shared_hits"] == 1 and two.stats()["token_requests"] == 0


def test_redis_settings_go_together():
    with pytest.raises(entra_auth.ConfigError):
        entra_auth.ConfidentialClient(TENANT_ID, API_CLIENT_ID, client_secret="s", redis_url="redis://127.0.0.1:6379")

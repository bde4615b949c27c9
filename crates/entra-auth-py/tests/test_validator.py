"""The plain binding: Validator.validate/authorize (sync, async, threads), the errors' answers,
bad input from Python, the panic boundary, key fetching. Tokens from the entra-dev issuer over
real HTTP (discovery and keys)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

import entra_auth
from entra_auth import Requirement
from support import (
    ALICE_OID, API_CLIENT_ID, GRAPH_APP_ID, OTHER_TENANT_ID, TENANT_ID, Issuer, problem,
    tamper_signature,
)


def refused(excinfo: pytest.ExceptionInfo, status: int, code: str) -> dict:
    e = excinfo.value
    assert (e.status, e.code) == (status, code), (e.status, e.code, e.detail)
    doc = problem(e.body.encode())
    assert (doc["status"], doc["code"], doc["detail"]) == (status, code, e.detail)
    assert e.headers["Content-Type"] == "application/problem+json"
    assert e.headers["Cache-Control"] == "no-store"
    return doc


def test_valid_token_returns_verified_claims(validator, issuer: Issuer):
    claims = validator.validate(issuer.mint("--scope", "weather.read"))
    assert claims.oid == ALICE_OID
    assert claims.tid == TENANT_ID
    assert claims.scopes == ["weather.read"]
    assert claims.version == "2.0"
    assert claims.has_scope("weather.read") and not claims.has_scope("Weather.Read")
    assert claims["oid"] == ALICE_OID and "oid" in claims and claims.get("nope", 7) == 7
    assert claims.to_dict()["aud"] == API_CLIENT_ID
    assert not claims.is_app_only


def test_v1_token_with_app_id_uri_audience_is_accepted(validator, issuer: Issuer):
    claims = validator.validate(issuer.mint("--version", "1", "--scope", "weather.read"))
    assert claims.version == "1.0"
    assert claims.audiences == [f"api://{API_CLIENT_ID}"]


def test_expired_token_is_401_token_expired_with_challenge(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(issuer.mint("--expired"))
    refused(ei, 401, "token_expired")
    assert ei.value.www_authenticate.startswith('Bearer error="invalid_token", error_description="token expired at ')


def test_wrong_audience_is_401_naming_the_expected_audiences(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(issuer.mint("--audience", "api://someone-else"))
    doc = refused(ei, 401, "audience_mismatch")
    assert API_CLIENT_ID in doc["detail"] and "api://someone-else" in doc["detail"]
    assert 'error="invalid_token"' in ei.value.www_authenticate


def test_token_of_another_tenant_is_401_issuer_mismatch(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(issuer.mint("--tenant", OTHER_TENANT_ID))
    doc = refused(ei, 401, "issuer_mismatch")
    assert OTHER_TENANT_ID in doc["detail"]


def test_bad_signature_is_401_invalid_signature(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(tamper_signature(issuer.mint()))
    refused(ei, 401, "invalid_signature")


def test_unknown_signing_key_is_401_naming_the_kid(validator, issuer: Issuer, foreign_keys: Path):
    token = issuer.mint(data_dir=foreign_keys)
    kid = json.loads(_b64(token.split(".")[0]))["kid"]
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(token)
    doc = refused(ei, 401, "unknown_signing_key")
    assert kid in doc["detail"]


def test_graph_token_is_401_explaining_what_to_request(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(issuer.mint("--audience", GRAPH_APP_ID))
    doc = refused(ei, 401, "token_for_other_resource")
    assert "Graph" in doc["detail"] and API_CLIENT_ID in doc["detail"]


def test_id_token_is_401_saying_send_the_access_token(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate(issuer.mint("--claim", "nonce=n-0S6", "--claim", "scp=null"))
    doc = refused(ei, 401, "id_token_as_access_token")
    assert "ID token" in doc["detail"]


def test_authorize_without_header_is_401_bare_challenge(validator):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.authorize(None)
    refused(ei, 401, "missing_token")
    assert ei.value.www_authenticate == "Bearer"


def test_authorize_with_two_headers_is_400_invalid_request(validator, issuer: Issuer):
    t = issuer.mint()
    with pytest.raises(entra_auth.BadRequest) as ei:
        validator.authorize([f"Bearer {t}", f"Bearer {t}"])
    refused(ei, 400, "invalid_request")
    assert ei.value.www_authenticate.startswith('Bearer error="invalid_request"')


def test_authorize_missing_scope_is_403_insufficient_scope_naming_it(validator, issuer: Issuer):
    with pytest.raises(entra_auth.Forbidden) as ei:
        validator.authorize(f"Bearer {issuer.mint('--scope', 'weather.read')}",
                            Requirement.scopes(["weather.write"]))
    doc = refused(ei, 403, "insufficient_scope")
    assert ei.value.www_authenticate.startswith('Bearer error="insufficient_scope"')
    assert 'scope="weather.write"' in ei.value.www_authenticate
    assert "weather.write" in doc["detail"]


def test_scope_or_role_admits_users_by_scope_and_daemons_by_role(validator, issuer: Issuer):
    need = Requirement.scopes(["weather.read"]).or_roles(["Weather.Read.All"])
    user = validator.authorize(f"Bearer {issuer.mint('--scope', 'weather.read')}", need)
    daemon = validator.authorize(f"Bearer {issuer.mint('--app', '--role', 'Weather.Read.All')}", need)
    assert user.oid == ALICE_OID and daemon.is_app_only and daemon.roles == ["Weather.Read.All"]
    with pytest.raises(entra_auth.Forbidden):
        validator.authorize(f"Bearer {issuer.mint('--app', '--role', 'Other.Role')}", need)


def test_all_scopes_and_combinators(validator, issuer: Issuer):
    both = Requirement.all_scopes(["weather.read", "weather.write"])
    token = f"Bearer {issuer.mint('--scope', 'weather.read')}"
    with pytest.raises(entra_auth.Forbidden):
        validator.authorize(token, both)
    assert validator.authorize(token, Requirement.scopes(["weather.read"]) & Requirement.no_guests()).oid == ALICE_OID
    claims = validator.authorize(token, Requirement.roles(["X"]) | Requirement.scopes(["weather.read"]))
    with pytest.raises(entra_auth.Forbidden):
        both.check(claims)


@pytest.mark.parametrize("bad, kind, words", [
    (None, TypeError, "token is None"),
    (b"eyJ.eyJ.sig", TypeError, "not bytes"),
    (42, TypeError, "not int"),
    ("\ud800", ValueError, "surrogates"),
])
def test_validate_refuses_non_text_with_a_clear_python_error(validator, bad, kind, words):
    with pytest.raises(kind) as ei:
        validator.validate(bad)
    assert words in str(ei.value)


def test_ten_megabyte_token_is_401_too_large_not_a_crash(validator):
    with pytest.raises(entra_auth.Unauthorized) as ei:
        validator.validate("a" * 10_000_000)
    refused(ei, 401, "malformed_token")
    assert "larger than" in ei.value.detail


def test_non_str_header_is_a_type_error(validator):
    with pytest.raises(TypeError) as ei:
        validator.authorize(3.5)
    assert "not float" in str(ei.value)
    with pytest.raises(TypeError):
        validator.authorize(["Bearer x", None])


def test_header_with_control_characters_is_400(validator):
    with pytest.raises(entra_auth.BadRequest) as ei:
        validator.authorize("Bearer a\nb")
    refused(ei, 400, "invalid_request")


def test_rust_panic_becomes_server_error_not_a_crash():
    with pytest.raises(entra_auth.ServerError) as ei:
        entra_auth._native._panic_probe()
    assert (ei.value.status, ei.value.code) == (500, "internal_error")
    assert isinstance(ei.value, Exception)
    assert "authentication failed inside the server" in ei.value.body
    # The interpreter carries on and the binding still works.
    with pytest.raises(TypeError):
        entra_auth.Validator(TENANT_ID, API_CLIENT_ID).validate(None)


def test_bad_configuration_raises_config_error_naming_the_setting():
    with pytest.raises(entra_auth.ConfigError) as ei:
        entra_auth.Validator(TENANT_ID, "not-a-guid")
    assert "not-a-guid" in str(ei.value)
    with pytest.raises(entra_auth.ConfigError) as ei:
        entra_auth.Validator(TENANT_ID, API_CLIENT_ID, b2c_policy="B2C_1_signin")
    assert "b2c_tenant_name" in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_unreachable_identity_provider_is_503_keys_unavailable():
    v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance="http://127.0.0.1:1/")
    with pytest.raises(entra_auth.ServiceUnavailable) as ei:
        v.warm_up(timeout_seconds=5)
    assert (ei.value.status, ei.value.code, ei.value.www_authenticate) == (503, "keys_unavailable", None)
    assert not v.is_ready


def test_async_validate_fetches_keys_without_blocking_the_event_loop(issuer: Issuer):
    """The identity provider here is served by the very event loop that awaits the validation:
    if the validation blocked the loop, the key fetch could never be answered."""
    paths = [f"/{TENANT_ID}/v2.0/.well-known/openid-configuration",
             f"/{TENANT_ID}/.well-known/openid-configuration"]
    metadata = {}
    for path in paths:
        with urllib.request.urlopen(f"{issuer.instance.rstrip('/')}{path}", timeout=10) as r:
            metadata[path] = json.load(r)
    with urllib.request.urlopen(metadata[paths[0]]["jwks_uri"], timeout=10) as r:
        keys = r.read()
    token = issuer.mint("--scope", "weather.read")
    served = []

    async def main():
        async def answer(reader, writer):
            request_line = (await reader.readline()).decode()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            path = request_line.split()[1]
            served.append(path)
            body = json.dumps(docs[path]).encode() if path in docs else keys
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        docs = {p: dict(m, jwks_uri=f"http://127.0.0.1:{port}/keys") for p, m in metadata.items()}
        v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance=f"http://127.0.0.1:{port}/")
        first = await asyncio.wait_for(v.validate_async(token), 30)
        again = await v.authorize_async(f"Bearer {token}", Requirement.scopes(["weather.read"]))
        with pytest.raises(entra_auth.Forbidden):
            await v.authorize_async(f"Bearer {token}", Requirement.scopes(["weather.write"]))
        with pytest.raises(entra_auth.Unauthorized):
            await v.validate_async(tamper_signature(token))
        server.close()
        return first, again

    first, again = asyncio.run(main())
    assert first.oid == again.oid == ALICE_OID
    assert set(served) == {*paths, "/keys"}


def test_async_validate_can_be_cancelled_while_keys_are_awaited(issuer: Issuer):
    """A provider that never answers: the awaiting task times out (the loop runs on) and the
    late answer is dropped."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance=f"http://127.0.0.1:{silent.getsockname()[1]}/")
    token = issuer.mint()

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(v.validate_async(token), 0.5)
        t.cancel()
        return ticks

    assert asyncio.run(main()) > 0
    silent.close()


def test_threads_validate_in_parallel_sharing_the_cache(issuer: Issuer):
    v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance=issuer.instance)
    v.warm_up()
    tokens = [issuer.mint("--scope", "weather.read") for _ in range(4)]
    results, errors = [], []

    def work(t):
        try:
            for _ in range(200):
                results.append(v.validate(t).oid)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert results == [ALICE_OID] * 1600
    m = v.metrics()
    assert m["accepted"] == 1600
    assert m["token_cache_entries"] == 4
    assert m["token_cache_hits"] >= 1600 - 8


def test_keys_are_fetched_once_for_many_validations(issuer: Issuer):
    v = entra_auth.Validator(TENANT_ID, API_CLIENT_ID, instance=issuer.instance, token_cache_size=0)
    v.warm_up()
    token = issuer.mint()
    before = issuer.stats()["key_requests"]
    for _ in range(50):
        assert v.validate(token).oid == ALICE_OID
    assert issuer.stats()["key_requests"] == before
    assert v.metrics()["token_cache_hits"] == 0


def test_explain_lists_each_check_and_the_first_failure(validator, issuer: Issuer):
    e = validator.explain(issuer.mint("--expired"))
    assert isinstance(e, dict)
    text = json.dumps(e)
    assert "token_expired" in text


def test_several_authorities_select_by_issuer(issuer: Issuer):
    v = entra_auth.Validator(authorities=[
        entra_auth.Authority(TENANT_ID, API_CLIENT_ID, instance=issuer.instance, name="workforce"),
        entra_auth.Authority("devb2c.onmicrosoft.com", API_CLIENT_ID, instance=issuer.instance,
                             b2c_tenant_name="devb2c", b2c_policy="B2C_1_signin", name="customers"),
    ])
    v.warm_up()
    a = v.validate(issuer.mint())
    b = v.validate(issuer.mint("--b2c-policy", "B2C_1_signin"))
    assert (a.authority, b.authority) == ("workforce", "customers")
    with pytest.raises(entra_auth.Forbidden) as ei:
        v.authorize(f"Bearer {issuer.mint('--b2c-policy', 'B2C_1_signin')}", Requirement.authority("workforce"))
    assert ei.value.code == "requirement_not_met"


def _b64(s: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

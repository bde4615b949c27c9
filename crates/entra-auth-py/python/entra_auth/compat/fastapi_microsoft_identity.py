"""The API of the PyPI package ``fastapi_microsoft_identity`` (0.1.6), on entra-auth.

The course's code changes one import line::

    from entra_auth.compat.fastapi_microsoft_identity import (
        AuthError, initialize, requires_auth, validate_scope)

and keeps its shape: ``initialize(tenant_id_, client_id_)`` at start-up, ``@requires_auth`` on
``async def`` views that take ``request: Request``, ``validate_scope("weather.read", request)``
in the view, ``except AuthError as ae: return Response(ae.error_msg, status_code=ae.status_code)``.

What changes (the original's defects, each fixed; see the package README):

* every failure gets its own status and an explained message (expired, wrong audience or issuer,
  bad signature, unknown key, Graph or ID token...), never "Unable to find appropriate key";
* an ``AuthError`` the view does not catch is answered with its status, not turned into 401;
* ``validate_scope`` and ``get_token_claims`` use **verified** claims;
* keys come from the OpenID metadata once and are cached and refreshed in the background (no
  download per request); ``instance_`` names another cloud or a local issuer;
* 401 and 403 answers carry an RFC 6750 ``WWW-Authenticate`` challenge, also when the view builds
  the response itself from a caught ``AuthError``;
* v1 and v2 tokens, tokens without ``ver``, a small clock skew;
* an app-only token passes ``validate_scope`` with an app role of that name; a delegated token
  needs the scope in ``scp`` even when it also has ``roles``.

The module keeps the original's one configuration per process (``initialize`` sets it).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict, Optional, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from .. import Validator
from .._http import header_values
from .._native import AuthError as _EntraError
from .._native import Claims, Requirement

__all__ = [
    "AuthError",
    "get_token_claims",
    "initialize",
    "requires_auth",
    "requires_b2c_auth",
    "validate_scope",
]

F = TypeVar("F", bound=Callable[..., Any])

_CLAIMS = "entra_auth_claims"
_ERROR = "entra_auth_error"


class AuthError(Exception):
    """``AuthError(error_msg, status_code)``: an authentication (401) or authorisation (403)
    failure. ``www_authenticate`` carries the RFC 6750 challenge when entra-auth raised it."""

    def __init__(self, error_msg: str, status_code: int, *, www_authenticate: Optional[str] = None,
                 code: Optional[str] = None) -> None:
        super().__init__(error_msg, status_code)
        self.error_msg = error_msg
        self.status_code = status_code
        self.www_authenticate = www_authenticate
        self.code = code

    @classmethod
    def _of(cls, e: _EntraError) -> "AuthError":
        return cls(e.detail, e.status, www_authenticate=e.www_authenticate, code=e.code)


class _Config:
    """What ``initialize`` set: the workforce validator and, with the B2C names, the B2C one."""

    def __init__(self, aad: Validator, b2c: Optional[Validator]) -> None:
        self.aad = aad
        self.b2c = b2c
        self.scope_rules: Dict[str, Requirement] = {}

    def scope_rule(self, scope: str) -> Requirement:
        rule = self.scope_rules.get(scope)
        if rule is None:
            rule = Requirement.scopes([scope]).or_roles([scope])
            self.scope_rules[scope] = rule
        return rule


_config: Optional[_Config] = None


def initialize(tenant_id_: str, client_id_: str, b2c_policy_name_: Optional[str] = None,
               b2c_domain_name_: Optional[str] = None, instance_: Optional[str] = None) -> None:
    """Configures the module: the tenant and the API's client id; for B2C, the user flow
    (``b2c_policy_name_``) and the tenant name (``b2c_domain_name_``, e.g. ``contoso``);
    ``instance_``: the identity provider's base URL (default ``https://login.microsoftonline.com/``,
    for B2C ``https://{domain}.b2clogin.com/``). Raises ``entra_auth.ConfigError`` for a bad value.
    Keys start loading in the background at once."""
    global _config
    aad = Validator(tenant_id_, client_id_, instance=instance_)
    b2c = None
    if b2c_policy_name_ and b2c_domain_name_:
        b2c = Validator(f"{b2c_domain_name_}.onmicrosoft.com", client_id_, instance=instance_,
                        b2c_tenant_name=b2c_domain_name_, b2c_policy=b2c_policy_name_)
    _config = _Config(aad, b2c)


def _configured() -> _Config:
    if _config is None:
        raise RuntimeError("fastapi_microsoft_identity: call initialize(tenant_id_, client_id_) at start-up")
    return _config


def _request_of(args: Any, kwargs: Dict[str, Any]) -> Request:
    request = kwargs.get("request")
    if isinstance(request, Request):
        return request
    for a in args:
        if isinstance(a, Request):
            return a
    raise TypeError("@requires_auth needs the view to take a parameter `request: Request`")


def _challenge_for(status: int) -> str:
    if status == 403:
        return 'Bearer error="insufficient_scope"'
    return 'Bearer error="invalid_token"'


def _refusal(e: _EntraError) -> Response:
    headers = {k: v for k, v in e.headers.items() if k != "Content-Type"}
    return Response(content=e.body, status_code=e.status, headers=headers,
                    media_type="application/problem+json")


def _answer_for(error: AuthError) -> Response:
    """The answer to an ``AuthError`` the view let through."""
    return Response(content=error.error_msg, status_code=error.status_code,
                    headers={"WWW-Authenticate": error.www_authenticate or _challenge_for(error.status_code)}
                    if error.status_code in (401, 403) else None,
                    media_type="text/plain")


def _with_challenge(request: Request, response: Any) -> Any:
    """A 401/403 the view built itself (from a caught ``AuthError``) gets the challenge of the
    error raised in this request, or a generic one, unless it has one already."""
    if not isinstance(response, Response) or response.status_code not in (401, 403):
        return response
    if "www-authenticate" in response.headers:
        return response
    error: Optional[AuthError] = getattr(request.state, _ERROR, None)
    if error is not None and error.status_code == response.status_code and error.www_authenticate:
        response.headers["WWW-Authenticate"] = error.www_authenticate
    else:
        response.headers["WWW-Authenticate"] = _challenge_for(response.status_code)
    return response


def _decorator(pick: Callable[[_Config], Optional[Validator]], name: str) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"@{name} decorates `async def` views")

        @functools.wraps(f)
        async def decorated(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args, kwargs)
            validator = pick(_configured())
            if validator is None:
                raise RuntimeError(f"@{name}: initialize(...) was called without b2c_policy_name_ and b2c_domain_name_")
            try:
                claims = await validator.authorize_async(header_values(request.scope.get("headers") or []))
            except _EntraError as e:
                return _refusal(e)
            setattr(request.state, _CLAIMS, claims)
            try:
                response = await f(*args, **kwargs)
            except AuthError as ae:
                return _answer_for(ae)
            return _with_challenge(request, response)

        return decorated  # type: ignore[return-value]

    return decorate


requires_auth = _decorator(lambda c: c.aad, "requires_auth")
requires_auth.__doc__ = """Decorates an ``async def`` view taking ``request: Request``: validates the
bearer token (verified claims kept for ``validate_scope``/``get_token_claims``); refuses with
entra-auth's answer (status, ``WWW-Authenticate``, problem+json) otherwise."""

requires_b2c_auth = _decorator(lambda c: c.b2c, "requires_b2c_auth")
requires_b2c_auth.__doc__ = """``requires_auth`` for the B2C user flow given to ``initialize``."""


def _claims(request: Request) -> Claims:
    claims = getattr(request.state, _CLAIMS, None)
    if claims is not None:
        return claims
    # Outside @requires_auth: validate here (verified, never decoded blindly).
    config = _configured()
    try:
        claims = config.aad.authorize(header_values(request.scope.get("headers") or []))
    except _EntraError as e:
        error = AuthError._of(e)
        setattr(request.state, _ERROR, error)
        raise error from None
    setattr(request.state, _CLAIMS, claims)
    return claims


def validate_scope(required_scope: str, request: Request) -> bool:
    """Raises ``AuthError`` 403 unless the verified token has ``required_scope`` in ``scp`` (a
    delegated token) or an app role of that name (an app-only token). Returns ``True``."""
    claims = _claims(request)
    try:
        _configured().scope_rule(required_scope).check(claims)
    except _EntraError as e:
        error = AuthError._of(e)
        setattr(request.state, _ERROR, error)
        raise error from None
    return True


def get_token_claims(request: Request) -> Dict[str, Any]:
    """The verified claims of the request's bearer token, as a ``dict``."""
    return _claims(request).to_dict()

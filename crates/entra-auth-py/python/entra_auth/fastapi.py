"""FastAPI: a security scheme whose dependencies validate with entra-auth.

.. code-block:: python

    from fastapi import FastAPI, Security
    from entra_auth import Claims, Requirement, Validator
    from entra_auth.fastapi import EntraAuth, add_problem_handler

    validator = Validator(TENANT_ID, API_CLIENT_ID)
    auth = EntraAuth(validator, tenant_id=TENANT_ID, scopes={"weather.read": "Read the weather"})
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth(SWAGGER_CLIENT_ID))
    add_problem_handler(app)

    @app.get("/forecast")
    async def forecast(claims: Claims = Security(auth, scopes=["weather.read"])):
        return {"for": claims.oid}

``Security(auth, scopes=[...])`` requires every scope listed (FastAPI's convention);
``Depends(auth.require(Requirement...))`` takes any entra-auth requirement (any of several
scopes, roles, scope-or-role, calling apps, no guests...); ``Depends(auth.optional)`` gives
``None`` without a token. ``/docs`` shows *Authorize* with the authorization-code flow and PKCE.
The claims are also in ``request.scope["entra_auth.claims"]``.
"""

from __future__ import annotations

from asyncio import get_running_loop
from typing import Any, Dict, Optional, Tuple

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.security import OAuth2AuthorizationCodeBearer, SecurityScopes
from starlette.responses import Response

from . import Validator, _settle
from ._http import header_values
from ._native import AuthError, Claims, Requirement, Unauthorized

__all__ = ["EntraAuth", "EntraAuthHTTPException", "add_problem_handler", "problem_response"]


class EntraAuthHTTPException(HTTPException):
    """The ``HTTPException`` a dependency raises: status, headers (challenge) and the problem
    body of the :class:`entra_auth.AuthError` in ``error``."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(status_code=error.status, detail=error.detail, headers=dict(error.headers))
        self.error = error


def problem_response(error: AuthError) -> Response:
    """entra-auth's answer as a Starlette response: status, headers, problem+json body."""
    return Response(
        content=error.body,
        status_code=error.status,
        headers={k: v for k, v in error.headers.items() if k != "Content-Type"},
        media_type="application/problem+json",
    )


def add_problem_handler(app: FastAPI) -> None:
    """Answers :class:`EntraAuthHTTPException` with entra-auth's problem+json body (without it,
    FastAPI's default handler keeps the status and headers but sends ``{"detail": ...}``)."""

    async def handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EntraAuthHTTPException)
        return problem_response(exc.error)

    app.add_exception_handler(EntraAuthHTTPException, handler)


class EntraAuth(OAuth2AuthorizationCodeBearer):
    """The security scheme: an OAuth 2.0 authorization-code flow in the OpenAPI document, and
    a dependency that returns the caller's :class:`~entra_auth.Claims`.

    ``tenant_id`` gives the sign-in URLs (``{instance}{tenant_id}/oauth2/v2.0/authorize`` and
    ``/token``) unless ``authorization_url``/``token_url`` are given. ``scopes`` maps this API's
    scope names to descriptions; the OpenAPI flow lists them as
    ``{scope_prefix}{name}`` (default prefix ``api://{client_id}/``)."""

    def __init__(
        self,
        validator: Validator,
        *,
        tenant_id: Optional[str] = None,
        authorization_url: Optional[str] = None,
        token_url: Optional[str] = None,
        scopes: Optional[Dict[str, str]] = None,
        scope_prefix: Optional[str] = None,
        scheme_name: str = "EntraAuth",
        description: Optional[str] = "Microsoft identity platform (authorization code with PKCE)",
        requirement: Optional[Requirement] = None,
        optional: bool = False,
    ) -> None:
        if authorization_url is None or token_url is None:
            if tenant_id is None:
                raise TypeError("EntraAuth needs tenant_id, or both authorization_url and token_url")
            base = f"{validator.instance}{tenant_id}/oauth2/v2.0"
            authorization_url = authorization_url or f"{base}/authorize"
            token_url = token_url or f"{base}/token"
        prefix = scope_prefix if scope_prefix is not None else f"api://{validator.client_id}/"
        flow_scopes = {f"{prefix}{name}": text for name, text in (scopes or {}).items()}
        super().__init__(
            authorizationUrl=authorization_url,
            tokenUrl=token_url,
            scopes=flow_scopes,
            scheme_name=scheme_name,
            description=description,
            auto_error=not optional,
        )
        self.model.flows = OAuthFlows(
            authorizationCode=OAuthFlowAuthorizationCode(
                authorizationUrl=authorization_url, tokenUrl=token_url, scopes=flow_scopes
            )
        )
        self.validator = validator
        self.scope_prefix = prefix
        self.flow_scopes = flow_scopes
        self._requirement = requirement
        self._optional = optional
        self._by_scopes: Dict[Tuple[str, ...], Optional[Requirement]] = {}

    def require(self, requirement: Requirement) -> "EntraAuth":
        """A dependency for ``requirement`` (combined with any ``Security`` scopes)."""
        return self._derive(requirement=requirement, optional=self._optional)

    @property
    def optional(self) -> "EntraAuth":
        """A dependency that gives ``None`` when the request has no ``Authorization`` header (a
        bad token is still refused)."""
        return self._derive(requirement=self._requirement, optional=True)

    def swagger_ui_init_oauth(self, client_id: str) -> Dict[str, Any]:
        """``FastAPI(swagger_ui_init_oauth=...)`` for the *Authorize* button: the Swagger UI's
        client (a single-page app registration) signs in with PKCE."""
        return {
            "clientId": client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": " ".join(self.flow_scopes),
        }

    def _derive(self, *, requirement: Optional[Requirement], optional: bool) -> "EntraAuth":
        flow = self.model.flows.authorizationCode
        assert flow is not None
        return EntraAuth(
            self.validator,
            authorization_url=flow.authorizationUrl,
            token_url=flow.tokenUrl,
            scopes={k[len(self.scope_prefix):]: v for k, v in self.flow_scopes.items()},
            scope_prefix=self.scope_prefix,
            scheme_name=self.scheme_name,
            description=self.model.description,
            requirement=requirement,
            optional=optional,
        )

    def _requirement_for(self, scopes: Tuple[str, ...]) -> Optional[Requirement]:
        try:
            return self._by_scopes[scopes]
        except KeyError:
            pass
        needed = Requirement.all_scopes(list(scopes)) if scopes else None
        if needed is not None and self._requirement is not None:
            needed = needed & self._requirement
        elif needed is None:
            needed = self._requirement
        self._by_scopes[scopes] = needed
        return needed

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> Optional[Claims]:
        header = header_values(request.scope["headers"])
        requirement = self._requirement_for(tuple(security_scopes.scopes))
        try:
            # The validator's asyncio entry without another coroutine layer: the claims at once
            # when no I/O is needed, else a future the Rust runtime settles.
            out = self.validator._authorize_nowait(header, requirement, get_running_loop(), _settle)
            claims = out if type(out) is Claims else await out
        except Unauthorized as e:
            if self._optional and header is None:
                return None
            raise EntraAuthHTTPException(e) from None
        except AuthError as e:
            raise EntraAuthHTTPException(e) from None
        request.scope["entra_auth.claims"] = claims
        return claims

"""Any ASGI app: a middleware that authorizes every HTTP request (and WebSocket handshake).

.. code-block:: python

    from entra_auth import Requirement, Validator
    from entra_auth.asgi import EntraAuthMiddleware

    validator = Validator(TENANT_ID, CLIENT_ID)
    app = EntraAuthMiddleware(app, validator, Requirement.scopes(["weather.read"]),
                              exclude_paths=["/healthz"])

The verified :class:`~entra_auth.Claims` are put in ``scope["state"]["claims"]`` (Starlette's
``request.state.claims``) and ``scope["entra_auth.claims"]``. A refused request gets entra-auth's
answer: the status, ``WWW-Authenticate`` and the problem+json body; the app is not called.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, MutableMapping, Optional

from . import Validator
from ._http import header_values, raw_headers
from ._native import AuthError, Claims, Requirement, Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class EntraAuthMiddleware:
    """Authorizes each request with ``validator`` and ``requirement`` (any valid token when
    ``None``). ``exclude_paths``: exact paths served without authentication. ``optional``: a
    request without an ``Authorization`` header passes with no claims (a bad token is still
    refused)."""

    def __init__(
        self,
        app: ASGIApp,
        validator: Validator,
        requirement: Optional[Requirement] = None,
        *,
        exclude_paths: Iterable[str] = (),
        optional: bool = False,
    ) -> None:
        self.app = app
        self.validator = validator
        self.requirement = requirement
        self.exclude_paths = frozenset(exclude_paths)
        self.optional = optional

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        header = header_values(scope.get("headers") or [])
        claims: Optional[Claims] = None
        try:
            claims = await self.validator.authorize_async(header, self.requirement)
        except Unauthorized as e:
            if not (self.optional and header is None):
                await _refuse(kind, e, send)
                return
        except AuthError as e:
            await _refuse(kind, e, send)
            return
        scope.setdefault("state", {})["claims"] = claims
        scope["entra_auth.claims"] = claims
        await self.app(scope, receive, send)


async def _refuse(kind: str, error: AuthError, send: Send) -> None:
    if kind == "websocket":
        # Before the handshake is accepted, closing answers the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
        return
    await send({"type": "http.response.start", "status": error.status, "headers": raw_headers(error)})
    await send({"type": "http.response.body", "body": error.body.encode()})

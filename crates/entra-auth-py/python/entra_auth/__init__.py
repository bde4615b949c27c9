"""entra-auth for Python: Microsoft identity platform access-token validation, done in Rust.

Validation, key fetching and refresh, the verified-token cache, requirements and the answers
(status, RFC 6750 ``WWW-Authenticate``, ``application/problem+json`` body) come from the Rust
crate entra-auth; calls release the GIL and keys are fetched on a Rust thread.

Three ways to use it:

* FastAPI: :mod:`entra_auth.fastapi` (``Security(auth, scopes=[...])``, OpenAPI with PKCE);
* any ASGI app: :class:`entra_auth.asgi.EntraAuthMiddleware`, or :meth:`Validator.validate`;
* calling downstream APIs as the app or on behalf of the caller: :class:`ConfidentialClient`
  (entra-token: client credentials, on-behalf-of, memory and Redis caches);
* the course's code: :mod:`entra_auth.compat.fastapi_microsoft_identity`, a drop-in for
  ``fastapi_microsoft_identity``.
"""

from __future__ import annotations

import asyncio
from typing import Optional, Sequence, Union

from . import _native
from ._native import (
    AccessToken,
    AuthError,
    Authority,
    BadRequest,
    Claims,
    ConfigError,
    Forbidden,
    Requirement,
    ServerError,
    ServiceUnavailable,
    TokenError,
    Unauthorized,
)

__all__ = [
    "AccessToken",
    "AuthError",
    "Authority",
    "BadRequest",
    "ConfidentialClient",
    "Claims",
    "ConfigError",
    "Forbidden",
    "Requirement",
    "ServerError",
    "ServiceUnavailable",
    "TokenError",
    "Unauthorized",
    "Validator",
]


def _settle(future: "asyncio.Future[Claims]", ok: bool, value: object) -> None:
    """Runs on the event loop's thread (``call_soon_threadsafe``) when Rust has an answer."""
    if future.cancelled():
        return
    if ok:
        future.set_result(value)  # type: ignore[arg-type]
    else:
        future.set_exception(value)  # type: ignore[arg-type]


class Validator(_native.Validator):
    """Validates access tokens of one authority (``Validator(tenant_id, client_id, **options)``,
    the options of :class:`Authority`) or several (``Validator(authorities=[...])``).

    ``validate``/``authorize`` block only the calling thread (the GIL is released);
    ``validate_async``/``authorize_async`` answer at once when no I/O is needed and otherwise
    await the Rust runtime without blocking the event loop.
    """

    async def validate_async(self, token: str) -> Claims:
        """:meth:`validate` for asyncio."""
        out = self._validate_nowait(token, asyncio.get_running_loop(), _settle)
        if type(out) is Claims:
            return out
        return await out

    async def authorize_async(
        self,
        authorization: Union[str, Sequence[str], None],
        requirement: Optional[Requirement] = None,
    ) -> Claims:
        """:meth:`authorize` for asyncio."""
        out = self._authorize_nowait(authorization, requirement, asyncio.get_running_loop(), _settle)
        if type(out) is Claims:
            return out
        return await out


class ConfidentialClient(_native.ConfidentialClient):
    """entra-token's confidential client: tokens for downstream APIs as the application
    (``acquire_for_app``) or on behalf of the caller (``acquire_on_behalf_of``), cached in memory
    and optionally in Redis (``redis_url``, ``redis_key``). A downstream claims challenge raises
    :class:`Unauthorized` (401 ``insufficient_claims``, to answer the caller with); other failures
    raise :class:`TokenError`."""

    async def acquire_for_app_async(self, scopes: Sequence[str]) -> AccessToken:
        """:meth:`acquire_for_app` for asyncio."""
        out = self._acquire_for_app_nowait(list(scopes), asyncio.get_running_loop(), _settle)
        if type(out) is AccessToken:
            return out
        return await out

    async def acquire_on_behalf_of_async(self, claims: Claims, token: str, scopes: Sequence[str]) -> AccessToken:
        """:meth:`acquire_on_behalf_of` for asyncio."""
        out = self._acquire_on_behalf_of_nowait(claims, token, list(scopes), asyncio.get_running_loop(), _settle)
        if type(out) is AccessToken:
            return out
        return await out

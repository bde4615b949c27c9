"""The HTTP answer of an :class:`entra_auth.AuthError`, shared by the FastAPI and ASGI adapters."""

from __future__ import annotations

from typing import List, Tuple

from ._native import AuthError


def raw_headers(error: AuthError) -> List[Tuple[bytes, bytes]]:
    """The error's headers (content type, no-store, challenge) plus the body's length, as ASGI
    header pairs."""
    body = error.body.encode()
    pairs = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    pairs.append((b"content-length", str(len(body)).encode()))
    return pairs


def header_values(headers: List[Tuple[bytes, bytes]]) -> object:
    """The ``Authorization`` value(s) of raw ASGI headers: ``None``, one ``str`` or a list."""
    found = [v.decode("latin-1") for k, v in headers if k == b"authorization"]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return found

"""Bearer-token check shared by the OTLP HTTP and gRPC servers."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from collector.errors import UnauthorizedError


class TokenCheck:
    """Accepts any request when no tokens are configured; otherwise `Bearer <token>` must match one."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def check(self, authorization: str | None) -> None:
        if not self._tokens:
            return
        if not authorization:
            raise UnauthorizedError("missing bearer token")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError("expected 'Authorization: Bearer <token>'")
        given = token.strip().encode()
        # Compare against every token in constant time, so timing reveals neither which nor how much matched.
        ok = False
        for expected in self._tokens:
            ok |= hmac.compare_digest(given, expected)
        if not ok:
            raise UnauthorizedError("invalid bearer token")

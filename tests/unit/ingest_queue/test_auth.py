"""Bearer tokens on ingest."""

from __future__ import annotations

import pytest

from collector.errors import UnauthorizedError
from collector.ingest.auth import TokenCheck


def test_no_tokens_means_open() -> None:
    TokenCheck([]).check(None)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer nope"])
def test_wrong_or_missing_token_is_refused(header: str | None) -> None:
    with pytest.raises(UnauthorizedError) as info:
        TokenCheck(["a", "b"]).check(header)
    assert info.value.http_status == 401


def test_any_configured_token_is_accepted() -> None:
    check = TokenCheck(["a", "b"])
    check.check("Bearer b")
    check.check("bearer a")

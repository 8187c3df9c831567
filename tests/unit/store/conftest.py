"""Fixtures shared by the store tests."""

from __future__ import annotations

import pytest

from tests.unit.store.store_otlp import Harness


@pytest.fixture(params=["bare", "scanned"])
def handed_over(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a test twice: batches as bare requests, and as the receivers hand them over (with what validation read)."""
    monkeypatch.setattr(Harness, "scan", request.param == "scanned")

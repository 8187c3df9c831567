"""The exception hierarchy of Vigil.

    VigilError
    ├── ConfigError              config or rule files are invalid (carries every Problem)
    ├── IngestError              an OTLP request is refused; each maps to one status
    │   ├── DecodeError          body cannot be decoded               → 400 / INVALID_ARGUMENT
    │   ├── UnsupportedMediaError content type or encoding unknown    → 415 / (HTTP only)
    │   ├── PayloadTooLargeError body over the limit after inflating  → 413 / RESOURCE_EXHAUSTED
    │   ├── UnauthorizedError    missing or wrong bearer token        → 401 / UNAUTHENTICATED
    │   └── OverloadedError      queue full or shutting down          → 429|503 / RESOURCE_EXHAUSTED|UNAVAILABLE
    └── StorageError             the database cannot be reached or migrated

Delivery outcomes are values (see notify), not exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a file, with its position (1-based line and column)."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""


class ConfigError(VigilError):
    """Config or rule files are invalid; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class IngestError(VigilError):
    """An OTLP request is refused as a whole."""

    http_status = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class DecodeError(IngestError):
    """The body is not a valid OTLP message in its declared format."""

    http_status = 400


class UnsupportedMediaError(IngestError):
    """Unknown Content-Type or Content-Encoding."""

    http_status = 415


class PayloadTooLargeError(IngestError):
    """The body, once decompressed, is larger than `limits.max_request_bytes`."""

    http_status = 413


class UnauthorizedError(IngestError):
    """A bearer token is required and was missing or wrong."""

    http_status = 401


class OverloadedError(IngestError):
    """The pipeline cannot take the batch now; the client should retry later."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int, *, shutting_down: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.shutting_down = shutting_down
        if shutting_down:
            self.http_status = 503


class StorageError(VigilError):
    """The database cannot be reached or its schema cannot be brought up to date."""

"""Durations, sizes, numbers and addresses as users write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.units import format_duration, parse_bytes, parse_duration, parse_hostport, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("0s", timedelta(0)),
        ("1.5s", timedelta(seconds=1.5)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "-1s", "5 m"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\. 250ms"):
        parse_duration(text)


def test_sizes_numbers_addresses() -> None:
    assert parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes("64MB") == 64_000_000
    assert parse_bytes(1024) == 1024
    with pytest.raises(ValueError):
        parse_bytes("lots")
    assert parse_number("3%") == pytest.approx(0.03)
    assert parse_number("250ms") == 250.0
    assert parse_number(2) == 2.0
    assert parse_hostport("127.0.0.1:4318") == ("127.0.0.1", 4318)
    assert parse_hostport("[::1]:4317") == ("::1", 4317)
    assert parse_hostport(":8080") == ("0.0.0.0", 8080)
    with pytest.raises(ValueError):
        parse_hostport("localhost")

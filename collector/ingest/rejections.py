"""The tally of rejected items of one request: how many, why (the first few), and their removal."""

from __future__ import annotations

from typing import Any

MAX_REASONS = 5  # enough to fix a sender; a request with 10,000 bad spans must not yield a 1 MB message


class Rejections:
    """Counts rejected items and keeps the reasons of the first few, by path."""

    __slots__ = ("count", "explained", "reasons")

    def __init__(self) -> None:
        self.count = 0
        self.explained = 0
        self.reasons: list[str] = []

    def add(self, path: str, reason: str, items: int = 1) -> None:
        """Record `items` rejected items at `path` (e.g. a nameless metric rejects all its points)."""
        self.count += items
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{path}: {reason}")
            self.explained += items

    def message(self, noun: str) -> str:
        """`"2 spans rejected: path: reason; path: reason"`, or "" when nothing was rejected."""
        if not self.count:
            return ""
        text = f"{self.count} {noun}{'' if self.count == 1 else 's'} rejected: " + "; ".join(self.reasons)
        if self.count > self.explained:
            text += f"; and {self.count - self.explained} more"
        return text


def remove(items: Any, indexes: list[int]) -> None:
    """Delete the items at `indexes` (ascending) from a repeated message field."""
    # From the end, so earlier indexes stay right; each delete is a memmove in the protobuf runtime.
    for i in reversed(indexes):
        del items[i]

"""Label selectors of routes and inhibit rules: every key equals a value, or one of a list of values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Selector:
    """`{tier: P0, service.name: [a, b]}`: all keys must match; an empty selector matches everything."""

    terms: tuple[tuple[str, frozenset[str]], ...] = ()

    @classmethod
    def of(cls, match: Mapping[str, str | Sequence[str]]) -> Selector:
        terms = []
        for key in sorted(match):
            value = match[key]
            values = frozenset([value]) if isinstance(value, str) else frozenset(value)
            terms.append((key, values))
        return cls(tuple(terms))

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, values in self.terms:
            actual = labels.get(key)
            if actual is None or actual not in values:
                return False
        return True

    def allowed(self, key: str) -> frozenset[str] | None:
        """The values this selector admits for `key`, or None when it does not constrain it."""
        for k, values in self.terms:
            if k == key:
                return values
        return None

    def __str__(self) -> str:
        parts = []
        for key, values in self.terms:
            if len(values) == 1:
                parts.append(f'{key}="{next(iter(values))}"')
            else:
                parts.append(f'{key}=~"{"|".join(sorted(values))}"')
        return "{" + ",".join(parts) + "}"

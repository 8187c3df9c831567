"""What one delivery attempt came to, as a value (Delivered | Retry | Permanent), and when to try again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Delivered:
    status: int


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later: after `after` seconds when the receiver said so (Retry-After), else after a backoff."""

    reason: str
    status: int | None = None
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Permanent:
    """The receiver refused the notification for good (4xx other than 408/429): dead-letter it."""

    reason: str
    status: int | None = None


Outcome = Delivered | Retry | Permanent


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**(n-1))) seconds.

    Full jitter spreads the retries of many notifications that failed together
    (a receiver outage) instead of sending them back in synchronised waves.
    """

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return self.rng.uniform(0.0, ceiling)

    def after(self, outcome: Retry, attempt: int) -> float:
        """Seconds until the next attempt: the receiver's Retry-After if it gave one, else the backoff."""
        if outcome.after is not None:
            return max(outcome.after, 0.0)
        return self.delay(attempt)

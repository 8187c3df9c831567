"""How the shop's requests end under each fault: who answers 5xx, how slow, and what they log."""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from collector.demo.faults import Fault, Schedule
from collector.demo.shop import PANIC_TEXT, Breaker, Served, Shop

# The body matcher of ShopPanics in rules/logs.yaml (a regex matches the whole body).
PANIC_RULE = re.compile(r"(?is).*\b(panic|recovered)\b.*")


@dataclass
class Outcomes:
    """Every call the shop planned, by service and route."""

    calls: dict[tuple[str, str], list[Served]] = field(default_factory=lambda: defaultdict(list))
    requests: list[Served] = field(default_factory=list)

    def of(self, service: str, route: str) -> list[Served]:
        return self.calls[(service, route)]

    def error_share(self, service: str, route: str) -> float:
        calls = self.of(service, route)
        return sum(c.failed for c in calls) / len(calls)

    def logs(self, level: int | None = None) -> list[str]:
        return [
            log.message
            for r in self.requests
            for c in r.walk()
            for log in c.logs
            if level is None or log.level == level
        ]


def play(fault: Fault, service: str = "checkout", requests: int = 4000, seed: int = 1) -> Outcomes:
    shop = Shop(Schedule(fault, service, after=10, length=1000), random.Random(seed))
    out = Outcomes()
    for i in range(requests):
        request = shop.request(10 + i / 20)
        out.requests.append(request)
        for call in request.walk():
            out.calls[(call.route.service, call.route.template)].append(call)
    return out


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def durations(calls: list[Served]) -> list[float]:
    return [c.duration_ms for c in calls]


@pytest.mark.parametrize("fault", [Fault.NONE, Fault.LEAK, Fault.SILENCE])
def test_healthy_shop_answers_everything_quickly(fault: Fault) -> None:
    out = play(fault)

    assert {key for key in out.calls} == {
        ("frontend", "/"), ("frontend", "/products/{id}"), ("frontend", "/checkout"),
        ("checkout", "/orders"), ("payments", "/charges"),
    }
    assert all(not c.failed for calls in out.calls.values() for c in calls)
    # Every checkout reaches payments; the frontend sends 40% of its traffic to checkout.
    assert len(out.of("payments", "/charges")) == len(out.of("checkout", "/orders"))
    assert 0.35 < len(out.of("checkout", "/orders")) / len(out.requests) < 0.45
    p99 = quantile(durations(out.of("checkout", "/orders")), 0.99)
    assert 15 < p99 < 100
    assert out.logs(logging.ERROR) == []
    assert out.logs(logging.WARNING) == []


def test_errors_fail_a_large_share_of_checkout_and_its_callers() -> None:
    out = play(Fault.ERRORS)

    assert 0.35 < out.error_share("checkout", "/orders") < 0.45
    failed = [c for c in out.of("checkout", "/orders") if c.failed]
    assert {c.status for c in failed} == {500}
    # The order insert failed, so payments was never called, and the caller answered 502.
    assert all(c.query is not None and c.query.error and c.hop is None for c in failed)
    assert [f.status for f in out.of("frontend", "/checkout") if f.failed] == [502] * len(failed)
    assert out.error_share("frontend", "/") == 0
    assert out.error_share("frontend", "/products/{id}") == 0
    assert out.error_share("payments", "/charges") == 0
    assert all(any(log.level == logging.ERROR for log in c.logs) for c in failed)
    # Failing 40% never trips the frontend's breaker: every call reached checkout.
    assert all(c.hop is not None and c.hop.served is not None for c in out.of("frontend", "/checkout"))


def test_errors_on_payments_surface_as_502_upstream() -> None:
    out = play(Fault.ERRORS, service="payments")

    assert 0.35 < out.error_share("payments", "/charges") < 0.45
    assert {c.status for c in out.of("checkout", "/orders") if c.failed} == {502}
    assert out.error_share("checkout", "/orders") == out.error_share("payments", "/charges")


def test_latency_makes_checkout_p99_jump_but_not_its_median() -> None:
    healthy = durations(play(Fault.NONE).of("checkout", "/orders"))
    slow = play(Fault.LATENCY)
    checkout = durations(slow.of("checkout", "/orders"))

    assert quantile(healthy, 0.99) < 100
    assert quantile(checkout, 0.99) > 1200
    assert quantile(checkout, 0.5) < 2 * quantile(healthy, 0.5)
    assert slow.error_share("checkout", "/orders") == 0
    assert quantile(durations(slow.of("payments", "/charges")), 0.99) < 100
    warnings = slow.logs(logging.WARNING)
    assert warnings and all("pool orders" in w for w in warnings)


def test_panics_are_logged_as_recovered_errors_that_the_panic_rule_matches() -> None:
    out = play(Fault.PANIC)

    panicked = [c for c in out.of("checkout", "/orders") if c.error == PANIC_TEXT]
    assert 0.01 < len(panicked) / len(out.of("checkout", "/orders")) < 0.035
    assert all(c.status == 500 for c in panicked)
    errors = out.logs(logging.ERROR)
    panic_logs = [e for e in errors if PANIC_RULE.fullmatch(e)]
    assert len(panic_logs) == len(panicked)
    assert all(PANIC_TEXT in e and "recovered" in e for e in panic_logs)
    # Nothing else matches: the callers' own error logs and every healthy log stay clear of the rule.
    assert [m for m in out.logs() if PANIC_RULE.fullmatch(m)] == panic_logs
    # 2% of failures stays under ShopHttpErrorRatio's 5%: this fault pages through the log rule only.
    assert out.error_share("checkout", "/orders") < 0.05


def test_breaker_opens_after_most_calls_failed_and_closes_after_its_cooldown() -> None:
    breaker = Breaker("checkout", size=20, trip=16, cooldown=5.0)
    for _ in range(15):
        breaker.record(0.0, failed=True)
    for _ in range(5):
        breaker.record(0.0, failed=False)
    assert not breaker.is_open(0.0)

    for _ in range(20):
        breaker.record(1.0, failed=True)
    assert breaker.is_open(1.0)
    assert breaker.is_open(5.9)
    assert not breaker.is_open(6.0)


def test_an_open_breaker_fails_calls_fast_without_reaching_the_service() -> None:
    shop = Shop(Schedule(Fault.NONE, "checkout"), random.Random(3))
    for _ in range(20):
        shop.breakers["frontend"].record(0.0, failed=True)

    checkouts = [r for r in (shop.request(1.0) for _ in range(200)) if r.route.template == "/checkout"]

    assert checkouts
    for r in checkouts:
        assert r.status == 502
        assert r.error == "circuit breaker checkout is open"
        assert r.hop is not None and r.hop.served is None
    assert [c.route.service for r in checkouts for c in r.walk()] == ["frontend"] * len(checkouts)

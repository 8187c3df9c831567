"""Log series windows: counts and rates, severity and body filters, exemplars, the real SDK encoder."""

from __future__ import annotations

import re

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from collector.model import SEVERITY_NUMBERS, Matcher, Op, SeriesSelector, Signal
from tests.unit.store.store_otlp import NOW, Harness, S, log, logs_request

pytestmark = pytest.mark.usefixtures("handed_over")

MINUTE = (NOW - 60 * S, NOW)
ERRORS = SeriesSelector(Signal.LOGS, where=(Matcher("severity", Op.GTE, float(SEVERITY_NUMBERS["ERROR"])),),
                        by=("service.name",))


def test_count_and_rate_by_attribute() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS, by=("logger",))})
    records = [log(NOW - i * S, attrs={"logger": "db" if i % 3 else "web"}) for i in range(1, 31)]
    h.send(Signal.LOGS, logs_request(records))
    stats = h.store.query("r", *MINUTE)
    assert {k: v.samples for k, v in stats.items()} == {("db",): 20, ("web",): 10}
    assert stats[("db",)].measure("rate") == pytest.approx(20 / 60)
    assert stats[("db",)].measure("count") == 20
    assert stats[("db",)].measure("latency_p99") is None


def test_each_service_is_read_for_the_attributes_of_the_rules_that_may_select_it() -> None:
    h = Harness({
        "loggers": SeriesSelector(Signal.LOGS, where=(Matcher("service.name", Op.EQ, "checkout"),), by=("logger",)),
        "all": SeriesSelector(Signal.LOGS, by=("service.name",)),
    })
    for service in ("checkout", "cart"):
        records = [log(NOW - i * S, attrs={"logger": "db" if i % 3 else "web"}) for i in range(1, 31)]
        h.send(Signal.LOGS, logs_request(records, resource={"service.name": service, "logger": "root"}))
    assert {k: v.samples for k, v in h.store.query("loggers", *MINUTE).items()} == {("db",): 20, ("web",): 10}
    assert {k: v.samples for k, v in h.store.query("all", *MINUTE).items()} == {("checkout",): 30, ("cart",): 30}


def test_severity_filter_counts_error_and_above() -> None:
    h = Harness({"r": ERRORS})
    h.send(Signal.LOGS, logs_request([log(severity=s) for s in (5, 9, 13, 17, 18, 21, 0)]))
    assert h.store.query("r", *MINUTE)[("checkout",)].samples == 3


CHECKOUT_ERRORS = SeriesSelector(Signal.LOGS, where=(*ERRORS.where, Matcher("service.name", Op.EQ, "checkout")),
                                 by=("service.name", "code.function"))


def test_severity_filter_is_judged_per_resource_and_with_the_records_attributes() -> None:
    # Errors of `checkout` only, by an attribute: only the errors of the checkout resource count,
    # each under its own attribute value.
    h = Harness({"r": CHECKOUT_ERRORS})
    request = logs_request([log(severity=s, attrs={"code.function": "pay"}) for s in (17, 9, 21, 17)],
                           resource={"service.name": "payments"})
    for name in ("checkout", "shipping"):
        # A record's own service.name attribute does not make it the resource's service.
        records = [log(severity=s, attrs={"code.function": f"{name}-{s}", "service.name": "checkout"})
                   for s in (9, 17, 17, 21)]
        request.resource_logs.extend(logs_request(records, resource={"service.name": name}).resource_logs)
    h.send(Signal.LOGS, request)
    assert {k: v.samples for k, v in h.store.query("r", *MINUTE).items()} == {
        ("checkout", "checkout-17"): 2, ("checkout", "checkout-21"): 1,
    }


def test_negated_severity_filter_counts_records_without_severity() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS, where=(Matcher("severity", Op.GTE, 17.0, negate=True),),
                                     by=("code.function",))})
    h.send(Signal.LOGS, logs_request([log(severity=s, attrs={"code.function": "f"}) for s in (0, 9, 13, 17, 21)]))
    assert {k: v.samples for k, v in h.store.query("r", *MINUTE).items()} == {("f",): 3}


def test_old_records_no_rule_selects_are_still_counted_as_late() -> None:
    h = Harness({"r": CHECKOUT_ERRORS})
    h.send(Signal.LOGS, logs_request([log(NOW - 7200 * S, severity=9), log(NOW - 7200 * S, severity=17), log()]))
    h.send(Signal.LOGS, logs_request([log(NOW - 7200 * S, severity=17)], resource={"service.name": "elsewhere"}))
    assert h.metric("vigil_store_late_items_total", {"signal": "logs"}) == 3
    assert h.store.query("r", *MINUTE) == {}


def test_body_regex_filter_and_body_reads_empty_in_by() -> None:
    h = Harness({
        "r": SeriesSelector(Signal.LOGS, where=(Matcher("body", Op.REGEX, re.compile(".*timeout.*")),),
                            by=("service.name", "body")),
        "not": SeriesSelector(Signal.LOGS, where=(Matcher("body", Op.REGEX, re.compile(".*timeout.*"), negate=True),)),
    })
    bodies = ["db timeout after 3s", "ok", "upstream timeout", "fine"]
    h.send(Signal.LOGS, logs_request([log(body=b) for b in bodies]))
    assert {k: v.samples for k, v in h.store.query("r", *MINUTE).items()} == {("checkout", ""): 2}
    assert h.store.query("not", *MINUTE)[()].samples == 2


def test_observed_time_is_used_when_the_record_has_no_time() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS)})
    h.send(Signal.LOGS, logs_request([log(0, observed_ns=NOW - 30 * S)]), received_ns=NOW + 30 * S)
    assert h.store.query("r", NOW - 31 * S, NOW - 27 * S)[()].samples == 1


def test_old_records_are_counted_as_late() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS)})
    h.send(Signal.LOGS, logs_request([log(NOW - 7200 * S), log()]))
    assert h.store.query("r", NOW - 9000 * S, NOW)[()].samples == 1
    assert h.metric("vigil_store_late_items_total", {"signal": "logs"}) == 1


def test_exemplars_prefer_error_records_with_a_trace_id() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS)})
    records = [log(severity=9, trace_id=bytes([i]) * 16) for i in range(1, 4)]
    records += [log(severity=17, trace_id=b"\xee" * 16), log(severity=21), log(severity=9)]
    h.send(Signal.LOGS, logs_request(records))
    ex = h.store.query("r", *MINUTE)[()].exemplars
    assert ex[0].trace_id == b"\xee" * 16 and ex[0].error
    assert ex[0].duration_ms is None
    assert {e.trace_id for e in ex[1:]} == {bytes([i]) * 16 for i in range(1, 4)}


def test_logs_encoded_by_the_real_sdk_keep_severity_and_trace_ids() -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as sp:
        logger.emit(severity_number=SeverityNumber.ERROR, body="payment failed")
        logger.emit(severity_number=SeverityNumber.INFO, body="retrying")
    logger.emit(severity_number=SeverityNumber.INFO, body="done")
    provider.shutdown()
    request = encode_logs(exporter.get_finished_logs())
    times = [r.observed_time_unix_nano for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    now = max(times) + S
    h = Harness({"errors": ERRORS, "all": SeriesSelector(Signal.LOGS, by=("service.name",))})
    h.send(Signal.LOGS, request, received_ns=now)
    window = (now - 60 * S, now + 60 * S)
    assert h.store.query("all", *window)[("shop",)].samples == 3
    errors = h.store.query("errors", *window)[("shop",)]
    assert errors.samples == 1
    assert errors.exemplars[0].trace_id == sp.get_span_context().trace_id.to_bytes(16, "big")

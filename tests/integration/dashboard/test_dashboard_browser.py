"""The dashboard in real headless Chromium against a running `vigil run` with API tokens, while an incident
fires, is acknowledged with the page's button, and resolves; and /metrics through strict exposition parsers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.daemon import Daemon, make_config
from tests.integration.dashboard.browser import chromium, screenshot
from tests.integration.test_alert_lifecycle import RULES, Traffic, wait_for

TOKEN = "dashboard-test-token"
# Elements whose right edge is past the window's width (tables may scroll inside their own box).
OVERFLOWING = """
const width = document.documentElement.clientWidth;
return [...document.querySelectorAll("body *")]
  .filter(e => !e.closest(".scroll") && e.getBoundingClientRect().right > width + 0.5)
  .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right));
"""


def call(d: Daemon, path: str, method: str = "GET", accept: str = "*/*") -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": accept}
    data = b"" if method == "POST" else None
    req = urllib.request.Request(f"{d.api}{path}", method=method, headers=headers, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def api(d: Daemon, path: str) -> Any:
    status, _, body = call(d, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("dashboard")
    d = Daemon(workdir, make_config(workdir, auth={"api_tokens": [TOKEN]}))
    (workdir / "rules" / "e2e.yaml").write_text(RULES)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def test_an_incident_through_the_dashboard_from_firing_to_resolved(daemon: Daemon) -> None:
    d = daemon
    assert call(d, "/api/incidents", accept="application/json")[0] == 200
    with chromium() as browser, Traffic(d) as traffic:
        browser.get(f"{d.api}/")
        assert "API token" in browser.page_source, "without the token the dashboard asks for it"
        browser.get(f"{d.api}/?token={TOKEN}")
        assert browser.current_url == f"{d.api}/", "the token leaves the address bar once the cookie is set"

        traffic.errors = 10
        opened = wait_for("an open incident", lambda: api(d, "/api/incidents?state=open")["incidents"])
        incident_id = opened[0]["id"]
        browser.get(f"{d.api}/")
        firing = by_css(browser, "#live-P0 article.alert.firing")
        assert firing and "CheckoutErrors" in firing[0].text and "service.name=checkout" in firing[0].text
        row = by_css(browser, f'tr[data-incident-id="{incident_id}"]')
        assert row and "open" in row[0].text
        shots = [screenshot(browser, "1-dashboard-firing")]

        row[0].find_element("css selector", "a").click()
        assert browser.current_url == f"{d.api}/incidents/{incident_id}"
        evidence = by_css(browser, "article.trace-evidence")
        assert evidence, "the exemplar traces are shown"
        spans = by_css(evidence[0], ".span-row")
        assert [s.find_element("css selector", ".span-name").text for s in spans] == [
            "checkout POST /checkout", "checkout charge card"
        ]
        assert "error" in spans[0].get_attribute("class"), "the failed request's bar is red"
        bar = spans[1].find_element("css selector", ".span-bar")
        assert bar.value_of_css_property("background-color") == "rgba(74, 144, 217, 1)"
        assert spans[0].find_element("css selector", ".span-bar").value_of_css_property("background-color") == (
            "rgba(211, 47, 47, 1)"
        )
        logs = by_css(evidence[0], "table.logs tbody tr")
        assert any("payment declined for order" in log.text for log in logs)
        shots.append(screenshot(browser, "2-incident-open"))

        browser.find_element("css selector", "form.ack input[name=by]").send_keys("alice")
        browser.find_element("css selector", "#ack-button").click()
        assert browser.current_url == f"{d.api}/incidents/{incident_id}"
        assert "Acknowledged by alice" in by_css(browser, ".acked-note")[0].text
        assert api(d, f"/api/incidents/{incident_id}")["ackedBy"] == "alice"

        traffic.errors = 0
        wait_for("the incident to resolve", lambda: api(d, "/api/incidents?state=resolved")["incidents"])
        browser.get(f"{d.api}/incidents/{incident_id}")
        moments = [m.get_attribute("class") for m in by_css(browser, "ol.timeline li")]
        assert moments == ["moment breach", "moment fired", "moment acked", "moment resolved"]
        value_dots = by_css(browser, "#value svg .series.value circle")
        assert len(value_dots) > 2, "values recorded while the alert was firing, besides the events' own"
        assert by_css(browser, "#value svg line.threshold")
        shots.append(screenshot(browser, "3-incident-resolved"))

        browser.get(f"{d.api}/")
        chart = by_css(browser, "#mttr svg.chart")
        assert chart and chart[0].size["height"] > 100
        assert by_css(chart[0], '.series[data-series="P0 MTTR"] circle')
        assert by_css(chart[0], '.series[data-series="P0 MTTA"] circle')
        assert by_css(chart[0], ".axis.x text") and by_css(chart[0], ".axis.y text")
        shots.append(screenshot(browser, "4-dashboard-mttr"))

        trace_id = evidence_trace(d, incident_id)
        browser.get(f"{d.api}/traces/{trace_id}")
        names = [s.text for s in by_css(browser, ".span-row .span-name")]
        assert names == ["checkout POST /checkout", "checkout charge card"]
        browser.set_window_size(390, 844)
        shots.append(screenshot(browser, "5-trace-phone"))
        browser.get(f"{d.api}/incidents/{incident_id}")
        assert browser.execute_script(OVERFLOWING) == [], "nothing sticks out sideways on a phone"
        shots.append(screenshot(browser, "6-incident-phone"))
    assert all(p.stat().st_size > 10_000 for p in shots)
    check_metrics_after_the_incident(d)


def evidence_trace(d: Daemon, incident_id: str) -> str:
    found: str = api(d, f"/api/incidents/{incident_id}")["evidence"][0]["traceId"]
    return found


def check_metrics_after_the_incident(d: Daemon) -> None:
    families = {f.name: f for f in text_string_to_metric_families(metrics_text(d))}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("vigil_incident_ack_seconds_count", (("tier", "P0"),))] == 1
    assert samples[("vigil_incident_duration_seconds_count", (("tier", "P0"),))] == 1
    assert samples[("vigil_incidents_total", (("rule", "CheckoutErrors"), ("tier", "P0")))] == 1
    assert samples[("vigil_alerts_firing", (("tier", "P0"),))] == 0


def metrics_text(d: Daemon) -> str:
    # No token: /metrics stays open with api_tokens set.
    status, body = d.get("/metrics")
    assert status == 200
    return body.decode()


def test_metrics_pass_strict_exposition_parsers(daemon: Daemon) -> None:
    text = metrics_text(daemon)
    families = list(text_string_to_metric_families(text))
    assert {"vigil_alerts_firing", "vigil_incidents", "vigil_incident_duration_seconds"} <= {f.name for f in families}
    for family in families:
        assert f"# HELP {family.name} " in text or f"# HELP {family.name}_total " in text, family.name
        assert family.type in ("counter", "gauge", "histogram", "summary", "info"), family.name
    types = {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    assert set(types) == helps, "every metric has both HELP and TYPE"
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            base = next((n for n in sorted(types, key=len, reverse=True) if name.startswith(n)), None)
            assert base is not None, f"sample {name} has no TYPE line"

    status, content_type, body = call(daemon, "/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    strict = list(openmetrics_families(body.decode()))
    assert {f.name for f in strict} >= {"vigil_alerts_firing", "vigil_incidents", "vigil_incident_ack_seconds"}
    assert body.decode().endswith("# EOF\n")

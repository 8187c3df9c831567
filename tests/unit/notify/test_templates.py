"""Templates: every bundled one renders valid JSON; the default is DESIGN §6; bad templates are positioned problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.notify.context import alertmanager_body, sample_context
from collector.notify.render import Templates, check_templates, duration, fit

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
BUNDLED = sorted(p.name for p in TEMPLATES.glob("*.json.j2"))
KINDS = ("firing", "resolved", "digest")


def test_the_expected_templates_are_bundled() -> None:
    assert set(BUNDLED) >= {
        "alertmanager.json.j2",
        "slack.json.j2",
        "teams.json.j2",
        "dingtalk.json.j2",
        "wecom.json.j2",
        "feishu.json.j2",
        "pagerduty.json.j2",
    }
    assert check_templates(TEMPLATES, BUNDLED) == []


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("kind", KINDS)
def test_every_bundled_template_renders_valid_json(name: str, kind: str) -> None:
    templates = Templates(TEMPLATES)
    assert templates.load([name]) == []
    rendered = templates.render(name, sample_context(kind))
    assert rendered.content_type == "application/json"
    assert isinstance(json.loads(rendered.body), dict)


@pytest.mark.parametrize("kind", KINDS)
def test_the_default_template_renders_exactly_the_documented_body(kind: str) -> None:
    templates = Templates(TEMPLATES)
    templates.load(["alertmanager.json.j2"])
    ctx = sample_context(kind)
    body = json.loads(templates.render("alertmanager.json.j2", ctx).body)
    assert body == alertmanager_body(ctx)
    assert list(body)[:10] == [
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
        "commonAnnotations", "externalURL", "digest" if kind == "digest" else "alerts",
    ]  # fmt: skip
    assert body["truncatedAlerts"] == ctx["totalAlerts"] - len(ctx["alerts"])


def test_pagerduty_sends_one_event_per_incident_with_the_incident_as_dedup_key() -> None:
    templates = Templates(TEMPLATES)
    templates.load(["pagerduty.json.j2"])
    assert templates.per_alert("pagerduty.json.j2")
    ctx = sample_context("firing")
    ctx["alerts"] = ctx["alerts"][:1]
    firing = json.loads(templates.render("pagerduty.json.j2", ctx).body)
    assert firing["event_action"] == "trigger"
    assert firing["dedup_key"] == ctx["alerts"][0]["incidentId"]
    assert firing["routing_key"] == "R0UT1NGKEY"
    assert firing["payload"]["severity"] == "critical"
    resolved = json.loads(templates.render("pagerduty.json.j2", sample_context("resolved")).body)
    assert resolved["event_action"] == "resolve"


def test_long_chat_messages_are_cut_with_a_count_of_the_rest() -> None:
    templates = Templates(TEMPLATES)
    templates.load(["slack.json.j2", "wecom.json.j2"])
    ctx = sample_context("firing")
    ctx["alerts"] = ctx["alerts"] * 30
    ctx["totalAlerts"] = 97
    ctx["truncatedAlerts"] = 37
    slack = json.loads(templates.render("slack.json.j2", ctx).body)
    text = slack["blocks"][1]["text"]["text"]
    assert len(text) <= 3000 and text.rsplit("\n", 1)[-1].startswith("… and ")
    wecom = json.loads(templates.render("wecom.json.j2", ctx).body)
    assert len(wecom["markdown"]["content"].encode()) <= 4096


def test_fit_and_duration() -> None:
    lines = [f"line {i}" for i in range(100)]
    assert fit(lines[:3], 100) == "line 0\nline 1\nline 2"
    cut = fit(lines, 40)
    assert len(cut) <= 40 and cut.endswith("more")
    kept = cut.count("line ")
    assert cut.endswith(f"… and {100 - kept} more")
    assert fit(["x" * 50], 20, more=37).endswith("… and 37 more")
    assert fit(["支付" * 100], 30, unit="bytes").encode().__len__() <= 30
    assert duration(3725) == "1h 2m" and duration(42) == "42s" and duration(None) == "-"


def test_a_template_that_glues_strings_into_json_is_refused_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "glued.json.j2").write_text(
        '{\n  "text": "{{ alerts[0].annotations.summary }}"\n}\n'
    )
    [problem] = check_templates(tmp_path, ["glued.json.j2"])[:1]
    assert problem.file == str(tmp_path / "glued.json.j2")
    assert problem.line == 2 and problem.col > 1
    assert "invalid JSON" in problem.message and "tojson" in problem.message


def test_syntax_errors_undefined_names_and_missing_files_are_positioned(tmp_path: Path) -> None:
    (tmp_path / "broken.json.j2").write_text('{\n  "a": {{ status | tojson }},\n  "b": {% if %}\n}\n')
    (tmp_path / "typo.json.j2").write_text('{\n\n  "a": {{ statsu | tojson }}\n}\n')
    problems = check_templates(tmp_path, ["broken.json.j2", "typo.json.j2", "missing.json.j2"])
    by_file = {Path(p.file).name: p for p in problems}
    assert by_file["broken.json.j2"].line == 3 and "syntax" in by_file["broken.json.j2"].message
    assert by_file["typo.json.j2"].line == 3 and "statsu" in by_file["typo.json.j2"].message
    assert "not found" in by_file["missing.json.j2"].message
    assert str(by_file["typo.json.j2"]).startswith(f"{tmp_path / 'typo.json.j2'}:3:1: ")


def test_the_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    (tmp_path / "evil.json.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() | tojson }}")
    [problem, *_] = check_templates(tmp_path, ["evil.json.j2"])
    assert "fails to render" in problem.message


def test_a_template_failing_on_real_data_falls_back_to_the_default_body(tmp_path: Path) -> None:
    (tmp_path / "fragile.json.j2").write_text('{"first": {{ alerts[0].labels.alertname | tojson }}}')
    templates = Templates(tmp_path)
    assert templates.load(["fragile.json.j2"]) == []
    ctx = sample_context("firing")
    ctx["alerts"] = []
    rendered = templates.render("fragile.json.j2", ctx)
    assert json.loads(rendered.body) == alertmanager_body(ctx)

"""Start, stop and reload: bad templates refuse to start, reload validates then swaps, stop loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import ConfigError
from collector.notify import Notifier
from collector.store.db import Database
from tests.integration.notify.conftest import MakeNotifier
from tests.integration.notify.harness import Answer, Sink, eventually, firing, make_settings, wait_until, write


async def test_a_template_that_does_not_render_json_stops_the_start_with_its_position(
    sink: Sink, notifier_factory: MakeNotifier
) -> None:
    notifier = await notifier_factory(make_settings(sink, {"oncall": {"template": "missing.json.j2"}}), start=False)
    with pytest.raises(ConfigError) as caught:
        await notifier.start()
    [problem] = caught.value.problems
    assert problem.file.endswith("missing.json.j2") and "not found" in problem.message


async def test_reload_validates_then_swaps_and_starts_new_receivers(
    sink: Sink, database: Database, notifier_factory: MakeNotifier, tmp_path: Path
) -> None:
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}))
    with pytest.raises(ConfigError):
        notifier.reload(make_settings(sink, {"oncall": {}, "chat": {"template": "nope.json.j2"}}))
    # The old config is still in force.
    fire = firing(rule="First")
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: [r.key for r in sink.at("/oncall")] == [fire.id], what="delivery under the old config")

    notifier.reload(make_settings(sink, {"oncall": {}, "chat": {"template": "slack.json.j2"}}))
    second = firing(rule="Second")
    await write(database, second)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/chat")) == 1, what="the new receiver's delivery")
    assert sink.at("/chat")[0].key == second.id
    assert "blocks" in sink.at("/chat")[0].json()


async def test_give_up_after_dead_letters_a_notification_that_keeps_failing(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    sink.default("/oncall", Answer(503))
    notifier = await notifier_factory(make_settings(sink, {"oncall": {"give_up_after": "400ms"}}))
    await write(database, firing())
    notifier.wake()

    async def dead() -> bool:
        return bool(await notifier.deliveries(state="dead"))

    await eventually(dead, what="the dead letter")
    [row] = await notifier.deliveries(state="dead")
    assert row["lastStatus"] == 503 and "gave up" in row["lastError"]
    assert row["attempts"] == len(sink.at("/oncall")) >= 1


async def test_stopped_mid_delivery_a_new_notifier_delivers_what_was_left(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    settings = make_settings(sink, {"oncall": {}})
    sink.default("/oncall", Answer(200, delay=5.0))
    first = await notifier_factory(settings, start=False)
    await first.start()
    fires = [firing(rule=f"Rule{i}") for i in range(4)]
    await write(database, *fires)
    first.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 4, what="four requests in flight")
    await first.stop()  # cancels the requests in flight; the rows stay pending in SQL

    sink.default("/oncall", Answer(200))
    second: Notifier = await notifier_factory(settings)

    async def delivered() -> bool:
        rows = await second.deliveries()
        return len(rows) == 4 and all(r["state"] == "delivered" for r in rows)

    await eventually(delivered, what="redelivery after the restart")
    keys = [r.key for r in sink.at("/oncall")]
    assert sorted(set(keys)) == sorted(f.id for f in fires)
    assert len(keys) == 8  # each once before the stop, once after, under the same key

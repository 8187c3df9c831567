"""Durability and scale-out: a Notifier killed mid-delivery loses nothing; two replicas never send a row twice."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.notify import Notifier
from collector.settings import Settings
from collector.store.db import Database
from tests.integration.notify.conftest import MakeNotifier
from tests.integration.notify.harness import Answer, Sink, eventually, firing, make_settings, wait_until, write

ROOT = Path(__file__).resolve().parents[3]


async def _all_delivered(notifier: Notifier, count: int) -> bool:
    rows = await notifier.deliveries(limit=1000)
    return len(rows) == count and all(r["state"] == "delivered" for r in rows)


async def test_killed_mid_delivery_then_another_replica_delivers_the_rest(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    config = {"receivers": [{"name": "oncall", "url": sink.url("/oncall"), "timeout": "5s"}]}
    # Every request hangs, so the killed process has notifications in flight.
    sink.default("/oncall", Answer(200, delay=30.0))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.notify.notifier_process",
        database.url,
        "replica-a",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).strip() == b"ready"
        fires = [firing(rule=f"Rule{i}") for i in range(5)]
        await write(database, *fires)
        await wait_until(lambda: len(sink.at("/oncall")) == 5, timeout=15, what="five requests in flight")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    sink.default("/oncall", Answer(200))
    # Another replica, a minute later: the dead process's leases have run out and are taken over.
    notifier = await notifier_factory(
        Settings.model_validate(config), instance_id="replica-b", clock=lambda: datetime.now(UTC) + timedelta(minutes=1)
    )
    await eventually(lambda: _all_delivered(notifier, 5), timeout=15, what="redelivery")
    keys = [r.key for r in sink.at("/oncall")]
    assert set(keys) == {f.id for f in fires}
    assert len(keys) == 10  # each sent twice: once before the kill, once after, under the same key
    for key in set(keys):
        bodies = {r.body for r in sink.at("/oncall") if r.key == key}
        assert len(bodies) == 1


async def test_two_replicas_on_one_database_send_each_notification_once(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    settings = make_settings(sink, {"oncall": {}, "audit": {}})
    a = await notifier_factory(settings, instance_id="replica-a")
    b = await notifier_factory(settings, instance_id="replica-b")
    fires = [firing(rule=f"Rule{i}") for i in range(40)]
    for i in range(0, 40, 8):
        await write(database, *fires[i : i + 8])
        a.wake()
        b.wake()
    await eventually(lambda: _all_delivered(a, 80), timeout=20, what="80 deliveries")
    for path in ("/oncall", "/audit"):
        keys = [r.key for r in sink.at(path)]
        assert sorted(keys) == sorted(f.id for f in fires)


async def test_signature_verifies_with_the_secret_and_fails_for_a_changed_body(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    secret = "s3cr3t-shared-with-the-receiver"
    notifier = await notifier_factory(make_settings(sink, {"oncall": {"hmac_secret": secret}}))
    await write(database, firing())
    notifier.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 1, what="the signed delivery")
    [got] = sink.at("/oncall")

    def verify(body: bytes) -> bool:
        timestamp = got.headers["X-Vigil-Timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", got.headers["X-Vigil-Signature"])

    assert verify(got.body)
    assert not verify(got.body.replace(b'"firing"', b'"resolved"', 1))
    assert not verify(got.body + b" ")

"""The schema is created by Alembic on an empty database and is idempotent on restart."""

from __future__ import annotations

from sqlalchemy import inspect

from collector.store.db import Database, head_revision


async def test_open_migrates_an_empty_database_to_head_and_reopens(storage_url: str) -> None:
    db = Database(storage_url)
    await db.open()
    try:
        assert await db.revision() == head_revision()
        assert await db.ping() is None
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"alerts", "incidents", "events", "baselines", "alembic_version"} <= tables
    finally:
        await db.close()
    again = Database(storage_url)
    await again.open()
    assert await again.revision() == head_revision()
    await again.close()


async def test_upgrade_from_an_older_version_keeps_data(storage_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from collector.store.db import MIGRATIONS

    versions = sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("0*.py"))
    previous = "0002"  # before replicas (0003) and the outbox's index change (0004)
    db = Database(storage_url)
    await db.open(migrate_to=previous)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    async with db.engine.begin() as conn:
        assert await conn.run_sync(lambda c: "replicas" not in inspect(c).get_table_names())
        await conn.execute(
            text(
                "INSERT INTO alerts (fingerprint, rule, definition_hash, labels, state, active_since, updated_at) "
                "VALUES ('fp1', 'R', 'h', '{}', 'firing', :t, :t)"
            ),
            {"t": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now},
        )
    await db.close()

    db = Database(storage_url)
    await db.open()
    try:
        assert await db.revision() == head_revision() == versions[-1]
        from collector.store.tables import alerts

        async with db.engine.connect() as conn:
            row = (await conn.execute(select(alerts))).one()
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            indexes = await conn.run_sync(
                lambda c: {i["name"]: i["column_names"] for i in inspect(c).get_indexes("deliveries")}
            )
        assert (row.fingerprint, row.state, row.owner) == ("fp1", "firing", None)
        assert {"replicas", "cluster_state"} <= tables
        assert indexes["ix_deliveries_ordering"] == ["receiver", "ordering_key", "state", "seq"]
        assert indexes["ix_deliveries_due"] == ["receiver", "state", "next_attempt_at", "seq"]
    finally:
        await db.close()

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

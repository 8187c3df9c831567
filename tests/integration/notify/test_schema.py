"""Migration 0002 creates the notification tables exactly as collector/notify/tables.py describes them."""

from __future__ import annotations

from sqlalchemy import inspect

from collector.notify import tables
from collector.store.db import Database

OWN = [tables.deliveries, tables.notify_groups, tables.notify_members, tables.notify_locks,
       tables.silences, tables.digest_runs]  # fmt: skip


async def test_migration_matches_the_table_definitions(database: Database) -> None:
    def describe(sync_conn: object) -> dict[str, tuple[set[str], set[str]]]:
        inspector = inspect(sync_conn)
        return {
            t.name: (
                {c["name"] for c in inspector.get_columns(t.name)},
                {i["name"] for i in inspector.get_indexes(t.name) if i["name"]},
            )
            for t in OWN
        }

    async with database.engine.connect() as conn:
        found = await conn.run_sync(describe)
    for table in OWN:
        columns, indexes = found[table.name]
        assert columns == {c.name for c in table.columns}, table.name
        assert {i.name for i in table.indexes} <= indexes, table.name

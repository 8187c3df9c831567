"""The notification stage's write transactions: shared commits on SQLite, one caller's error stays its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.notify.writer import Writer
from collector.store.db import Database

scratch = Table(
    "writer_scratch", MetaData(), Column("id", Integer, primary_key=True), Column("owner", String(32), nullable=False)
)


@pytest.fixture
async def database(storage_url: str) -> AsyncIterator[Database]:
    db = Database(storage_url)
    await db.open()
    async with db.transaction() as conn:
        await conn.run_sync(scratch.metadata.create_all)
    yield db
    await db.close()


def inserting(row_id: int, owner: str) -> Callable[[AsyncConnection], Awaitable[int]]:
    async def work(conn: AsyncConnection) -> int:
        await conn.execute(insert(scratch).values(id=row_id, owner=owner))
        return row_id

    return work


async def rows(db: Database) -> dict[int, str]:
    async with db.engine.connect() as conn:
        return {r.id: r.owner for r in await conn.execute(select(scratch))}


async def test_concurrent_units_all_commit_and_each_caller_gets_its_own_result(database: Database) -> None:
    writer = Writer(database)
    results = await asyncio.gather(*(writer.run(inserting(i, f"w{i}")) for i in range(1, 21)))
    assert results == list(range(1, 21))
    assert await rows(database) == {i: f"w{i}" for i in range(1, 21)}


async def test_a_failing_unit_fails_only_its_caller(database: Database) -> None:
    writer = Writer(database)
    await writer.run(inserting(7, "first"))
    outcomes = await asyncio.gather(
        writer.run(inserting(1, "a")),
        writer.run(inserting(7, "duplicate")),
        writer.run(inserting(2, "b")),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], IntegrityError)
    assert await rows(database) == {1: "a", 2: "b", 7: "first"}


async def test_a_cancelled_caller_does_not_cut_its_transaction_short(database: Database) -> None:
    writer = Writer(database)
    started = asyncio.Event()

    async def slow(conn: AsyncConnection) -> None:
        await conn.execute(insert(scratch).values(id=1, owner="slow"))
        started.set()
        await asyncio.sleep(0.2)
        await conn.execute(insert(scratch).values(id=2, owner="slow"))

    caller = asyncio.create_task(writer.run(slow))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await writer.drain()
    assert await rows(database) == {1: "slow", 2: "slow"}


async def test_database_transactions_of_one_process_queue_instead_of_failing(database: Database) -> None:
    async def add(first: int) -> None:
        async with database.transaction() as conn:
            for i in range(first, first + 10):
                await conn.execute(insert(scratch).values(id=i, owner="t"))
                await asyncio.sleep(0)

    await asyncio.gather(*(add(start) for start in range(0, 200, 10)))
    async with database.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(scratch))).scalar() == 200

"""Silences: label matchers and a time range that mute notifications, kept in SQL for every replica."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.model import iso
from collector.notify.tables import silences
from collector.notify.writer import Writer
from collector.store.db import Database
from collector.units import parse_duration

MAX_TEXT = 1000
STATES = ("pending", "active", "expired")


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """`name` equals `value`, or fully matches `regex`. A missing label reads as the empty string."""

    name: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.regex is not None:
            return self.regex.fullmatch(actual) is not None
        return actual == self.value

    def to_json(self) -> str | dict[str, str]:
        return {"regex": self.value} if self.regex is not None else self.value


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[LabelMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> str:
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": {m.name: m.to_json() for m in self.matchers},
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "state": self.state(now),
        }


@dataclass(frozen=True, slots=True)
class SilenceDraft:
    """A validated POST body."""

    matchers: tuple[LabelMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def _matcher(name: str, spec: Any) -> LabelMatcher:
    if not isinstance(name, str) or not name:
        raise ValueError("matcher label names must be non-empty strings")
    if isinstance(spec, str):
        return LabelMatcher(name, spec)
    if isinstance(spec, Mapping) and set(spec) == {"regex"} and isinstance(spec["regex"], str):
        try:
            return LabelMatcher(name, spec["regex"], re.compile(spec["regex"]))
        except re.error as exc:
            raise ValueError(f"matcher {name!r}: invalid regex: {exc}") from None
    raise ValueError(f"matcher {name!r}: expected a string or {{\"regex\": \"...\"}}")


def parse_matchers(data: Any) -> tuple[LabelMatcher, ...]:
    """`{label: value | {regex: ...}}`, or Alertmanager's `[{name, value, isRegex}]`."""
    if isinstance(data, Mapping):
        out = [_matcher(k, v) for k, v in data.items()]
    elif isinstance(data, list):
        out = []
        for item in data:
            if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
                raise ValueError("each matcher in a list needs a name and a string value")
            spec = {"regex": item["value"]} if item.get("isRegex") else item["value"]
            out.append(_matcher(item.get("name", ""), spec))
    else:
        raise ValueError("matchers must be an object of label: value (or {\"regex\": ...})")
    if not out:
        raise ValueError("a silence needs at least one matcher")
    return tuple(out)


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an RFC 3339 time string, e.g. 2026-11-22T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{field}: invalid time {value!r} (expected e.g. 2026-11-22T10:00:00Z)") from None
    # A time without an offset is read as UTC, like every time Vigil prints.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{field} is longer than {MAX_TEXT} characters")
    return value


def parse_silence_request(data: Any, now: datetime) -> SilenceDraft:
    """Validate a POST /api/silences body. Raises ValueError with a message for the user."""
    if not isinstance(data, Mapping):
        raise ValueError("the body must be a JSON object")
    unknown = set(data) - {"matchers", "startsAt", "endsAt", "duration", "createdBy", "comment"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    matchers = parse_matchers(data.get("matchers"))
    starts_at = parse_time(data["startsAt"], "startsAt") if "startsAt" in data else now
    if "endsAt" in data and "duration" in data:
        raise ValueError("give endsAt or duration, not both")
    if "endsAt" in data:
        ends_at = parse_time(data["endsAt"], "endsAt")
    elif isinstance(data.get("duration"), str):
        ends_at = starts_at + parse_duration(data["duration"])
    else:
        raise ValueError("endsAt (or duration, e.g. \"2h\") is required")
    if ends_at <= starts_at:
        raise ValueError("endsAt must be after startsAt")
    if ends_at <= now:
        raise ValueError("endsAt is in the past: the silence would never be active")
    created_by = _text(data, "createdBy")
    if not created_by.strip():
        raise ValueError("createdBy is required (who is silencing, for the next person on call)")
    return SilenceDraft(matchers, starts_at, ends_at, created_by, _text(data, "comment"))


def _from_row(row: Any) -> Silence:
    matchers = tuple(_matcher(k, v) for k, v in dict(row.matchers).items())
    return Silence(
        row.id, matchers, row.starts_at, row.ends_at, row.created_by, row.comment, row.created_at, row.updated_at
    )


async def active_silences(conn: AsyncConnection, now: datetime) -> list[Silence]:
    rows = await conn.execute(select(silences).where(silences.c.starts_at <= now, silences.c.ends_at > now))
    return [_from_row(r) for r in rows]


def silenced_by(found: Iterable[Silence], labels: Mapping[str, str]) -> Silence | None:
    for s in found:
        if s.matches(labels):
            return s
    return None


class SilenceStore:
    """Create, list and expire silences (the /api/silences handlers call it)."""

    def __init__(self, db: Database, writer: Writer, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._writer = writer
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def create(self, draft: SilenceDraft) -> Silence:
        now = self._clock()
        silence = Silence(
            str(uuid.uuid4()), draft.matchers, draft.starts_at, draft.ends_at, draft.created_by, draft.comment, now, now
        )
        row = silences.insert().values(
            id=silence.id,
            matchers={m.name: m.to_json() for m in silence.matchers},
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=now,
            updated_at=now,
        )

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(row)

        await self._writer.run(work)
        return silence

    async def get(self, silence_id: str) -> Silence | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(silences).where(silences.c.id == silence_id))).first()
        return _from_row(row) if row is not None else None

    async def find(
        self, *, states: Iterable[str] = (), created_by: str | None = None, limit: int = 1000
    ) -> list[Silence]:
        """Silences newest first, optionally only some states (pending, active, expired) or one author."""
        now = self._clock()
        query = select(silences).order_by(silences.c.created_at.desc()).limit(limit)
        wanted = set(states)
        conditions = []
        if "pending" in wanted:
            conditions.append(silences.c.starts_at > now)
        if "active" in wanted:
            conditions.append((silences.c.starts_at <= now) & (silences.c.ends_at > now))
        if "expired" in wanted:
            conditions.append(silences.c.ends_at <= now)
        if conditions:
            query = query.where(or_(*conditions))
        if created_by is not None:
            query = query.where(silences.c.created_by == created_by)
        async with self._db.engine.connect() as conn:
            rows = await conn.execute(query)
            return [_from_row(r) for r in rows]

    async def expire(self, silence_id: str) -> Silence | None:
        """End the silence now (an expired one stays as it is). None when there is no such silence."""
        now = self._clock()

        async def work(conn: AsyncConnection) -> Any:
            await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.ends_at > now)
                .values(ends_at=now, updated_at=now)
            )
            # A pending silence that is ended never starts; keep startsAt <= endsAt.
            await conn.execute(
                update(silences).where(silences.c.id == silence_id, silences.c.starts_at > now).values(starts_at=now)
            )
            return (await conn.execute(select(silences).where(silences.c.id == silence_id))).first()

        row = await self._writer.run(work)
        return _from_row(row) if row is not None else None

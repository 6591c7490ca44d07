"""`demo seed --scale large`: a big, deterministic data set for benchmarks (COPY on PostgreSQL)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, insert, select

from governance.audit.record import record
from governance.core.db import get_engine, transaction
from governance.models import (
    Accreditation,
    Agreement,
    Dataset,
    Grant,
    Membership,
    Project,
    User,
)

USERS, PROJECTS, DATASETS = 100_000, 10_000, 50_000
MEMBERS_PER_PROJECT, GRANTS_PER_PROJECT = 80, 20
Row = tuple[Any, ...]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def seed_large(seed: int = 42) -> dict[str, int]:
    with transaction() as session:
        if session.scalar(select(User.id).where(User.username == "u000001")) is not None:
            print("large data set already present")
            return {}
        steward = session.scalar(select(User.id).where(User.username == "sam"))
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    user_ids = [_uuid(rng) for _ in range(USERS)]
    project_ids = [_uuid(rng) for _ in range(PROJECTS)]
    dataset_ids = [_uuid(rng) for _ in range(DATASETS)]
    tiers = [rng.randint(0, 4) for _ in range(PROJECTS)]

    def users() -> Iterator[Row]:
        for i, uid in enumerate(user_ids, 1):
            yield (
                uid,
                f"u{i:06d}",
                f"User {i}",
                f"u{i:06d}@example.org",
                "active",
                "person",
                base + timedelta(microseconds=i),
                base + timedelta(microseconds=i),
            )

    def accreditations() -> Iterator[Row]:
        for i, uid in enumerate(user_ids):
            expires = now + timedelta(days=365) if i % 10 else now - timedelta(days=10)
            yield (
                _uuid(rng),
                uid,
                "safe-researcher",
                "ONS",
                now - timedelta(days=700),
                expires,
                "",
                steward,
                now,
                base + timedelta(microseconds=i),
            )

    def agreements() -> Iterator[Row]:
        for i, uid in enumerate(user_ids):
            yield (
                _uuid(rng),
                uid,
                "2026.1",
                now - timedelta(days=30),
                now + timedelta(days=365),
                base + timedelta(microseconds=i),
            )

    def projects() -> Iterator[Row]:
        for p, pid in enumerate(project_ids):
            lead = user_ids[(p * MEMBERS_PER_PROJECT) % USERS]
            created = base + timedelta(seconds=p)
            yield (
                pid,
                f"project-{p + 1:05d}",
                f"Project {p + 1}",
                "A large-scale demo project.",
                "Research",
                "Benefit",
                lead,
                lead,
                tiers[p],
                date(2026, 1, 1),
                date(2028, 12, 31),
                "active" if p % 10 else "submitted",
                1,
                "",
                created,
                created,
            )

    def datasets() -> Iterator[Row]:
        for d, did in enumerate(dataset_ids):
            created = base + timedelta(milliseconds=d)
            yield (
                did,
                f"dataset-{d + 1:05d}",
                f"Dataset {d + 1}",
                "",
                steward,
                d % 4,
                f"s3://tre-data/dataset-{d + 1:05d}/",
                "active",
                "",
                created,
                created,
            )

    def memberships() -> Iterator[Row]:
        for p, pid in enumerate(project_ids):
            for k in range(MEMBERS_PER_PROJECT):
                uid = user_ids[(p * MEMBERS_PER_PROJECT + k) % USERS]
                created = base + timedelta(seconds=p, microseconds=k)
                yield (
                    _uuid(rng),
                    pid,
                    uid,
                    "lead" if k == 0 else "researcher",
                    "approved",
                    None,
                    None,
                    created,
                    created,
                )

    def grants() -> Iterator[Row]:
        for p, pid in enumerate(project_ids):
            for k in range(GRANTS_PER_PROJECT):
                did = dataset_ids[(p * 5 + k * 2500) % DATASETS]
                yield (
                    _uuid(rng),
                    pid,
                    did,
                    "",
                    steward,
                    now + timedelta(days=365),
                    None,
                    "",
                    base + timedelta(seconds=p, microseconds=k),
                )

    plan: list[tuple[Any, Sequence[str], Callable[[], Iterator[Row]], int]] = [
        (
            User.__table__,
            ("id", "username", "display_name", "email", "status", "kind", "created_at", "updated_at"),
            users,
            USERS,
        ),
        (
            Accreditation.__table__,
            (
                "id",
                "user_id",
                "kind",
                "issuer",
                "awarded_at",
                "expires_at",
                "evidence_ref",
                "verified_by_id",
                "verified_at",
                "created_at",
            ),
            accreditations,
            USERS,
        ),
        (
            Agreement.__table__,
            ("id", "user_id", "version", "signed_at", "expires_at", "created_at"),
            agreements,
            USERS,
        ),
        (
            Project.__table__,
            (
                "id",
                "slug",
                "title",
                "lay_summary",
                "purpose",
                "public_benefit",
                "lead_id",
                "created_by_id",
                "tier",
                "starts_on",
                "ends_on",
                "status",
                "review_round",
                "ethics_ref",
                "created_at",
                "updated_at",
            ),
            projects,
            PROJECTS,
        ),
        (
            Dataset.__table__,
            (
                "id",
                "slug",
                "title",
                "description",
                "custodian_id",
                "tier",
                "storage_uri",
                "status",
                "use_conditions",
                "created_at",
                "updated_at",
            ),
            datasets,
            DATASETS,
        ),
        (
            Membership.__table__,
            (
                "id",
                "project_id",
                "user_id",
                "role",
                "status",
                "expires_at",
                "removed_at",
                "created_at",
                "updated_at",
            ),
            memberships,
            PROJECTS * MEMBERS_PER_PROJECT,
        ),
        (
            Grant.__table__,
            (
                "id",
                "project_id",
                "dataset_id",
                "conditions",
                "granted_by_id",
                "expires_at",
                "revoked_at",
                "revoked_reason",
                "created_at",
            ),
            grants,
            PROJECTS * GRANTS_PER_PROJECT,
        ),
    ]
    engine = get_engine()
    counts: dict[str, int] = {}
    columns = [TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns) as progress:
        for table, cols, rows, total in plan:
            task = progress.add_task(table.name, total=total)
            counts[table.name] = _load(engine, table, cols, rows(), partial(progress.advance, task))
    with transaction() as session:
        record(session, None, "demo.seed-large", "system", None, summary=counts, source="cli")
    return counts


def _load(
    engine: Any, table: Table, cols: Sequence[str], rows: Iterator[Row], advance: Callable[[int], None]
) -> int:
    n = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
                    if n % 10_000 == 0:
                        advance(10_000)
            raw.driver_connection.commit()
        finally:
            raw.close()
        advance(n % 10_000)
        return n
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(dict(zip(cols, row, strict=True)))
            if len(batch) == 5_000:
                conn.execute(insert(table), batch)
                advance(len(batch))
                n += len(batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
            advance(len(batch))
            n += len(batch)
    return n

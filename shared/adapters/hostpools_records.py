"""Rollout records in the workload's partition, over the record store's storage primitives.

Rows: `hostpool:{pool}` (active run, audit counter), `hostpool:{pool}:run:{run}` (one rollout),
`hostpool-event:{pool}:{seq}` (audit). A state change and its audit rows are one ETag-conditioned
single-partition transaction, like the build pipeline's (DESIGN rule 4).
"""

from __future__ import annotations

from shared.adapters import entities
from shared.adapters.entity_store import EntityStore
from shared.domain.hostpools import Note, PoolRecord, Rollout, RolloutEvent

POOL_PREFIX = "hostpool:"
EVENT_PREFIX = "hostpool-event:"


def pool_key_row(pool_key: str) -> str:
    return f"{POOL_PREFIX}{pool_key}"


def run_row(pool_key: str, run_id: str) -> str:
    return f"{POOL_PREFIX}{pool_key}:run:{run_id}"


class EntityRolloutRecords:
    """Rollout records on the same table (Azurite / Table Storage) or the in-memory fake."""

    def __init__(self, store: EntityStore) -> None:
        self.store = store

    def load(self, workload: str, pool_key: str, pool_id: str, run_id: str | None) -> tuple[PoolRecord, Rollout | None]:
        partition = entities.partition(workload)
        keys = [pool_key_row(pool_key)] + ([run_row(pool_key, run_id)] if run_id else [])
        rows = self.store._keyed(partition, keys)
        pool_row = rows.get(keys[0])
        pool = (
            entities.decode(pool_row[0], PoolRecord, None).evolve(etag=pool_row[1])
            if pool_row
            else PoolRecord(workload=workload, pool_key=pool_key, pool_id=pool_id)
        )
        run: Rollout | None = None
        if run_id:
            run_found = rows.get(keys[1])
            if run_found:
                run = entities.decode(run_found[0], Rollout, None).evolve(etag=run_found[1])
        return pool, run

    def commit(self, pool: PoolRecord, runs: list[Rollout], notes: list[Note]) -> None:
        partition = entities.partition(pool.workload)
        events = [
            RolloutEvent(
                workload=pool.workload,
                pool_key=pool.pool_key,
                seq=pool.event_count + i,
                at=n.at,
                run_id=n.run_id,
                kind=n.kind,
                detail=n.detail,
                host=n.host,
            )
            for i, n in enumerate(notes)
        ]
        pool = pool.evolve(event_count=pool.event_count + len(notes))
        writes = [
            (pool_key_row(pool.pool_key), entities.encode(partition, pool_key_row(pool.pool_key), pool), pool.etag)
        ]
        for run in runs:
            key = run_row(pool.pool_key, run.run_id)
            writes.append((key, entities.encode(partition, key, run), run.etag))
        for event in events:
            key = f"{EVENT_PREFIX}{pool.pool_key}:{event.seq:08d}"
            writes.append((key, entities.encode(partition, key, event), None))
        self.store._transact(partition, writes)

    def runs(self, workload: str, pool_key: str) -> list[Rollout]:
        low, high = entities.prefix_range(f"{POOL_PREFIX}{pool_key}:run:")
        rows = self.store._range(entities.partition(workload), low, high)
        found = [entities.decode(e, Rollout, None).evolve(etag=etag) for e, etag in rows]
        return sorted(found, key=lambda r: r.started_at)

    def events(self, workload: str, pool_key: str) -> list[RolloutEvent]:
        low, high = entities.prefix_range(f"{EVENT_PREFIX}{pool_key}:")
        rows = self.store._range(entities.partition(workload), low, high)
        return sorted((entities.decode(e, RolloutEvent, None) for e, _ in rows), key=lambda e: e.seq)

"""In-memory record store with Table Storage's contract, for handler unit tests only."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from shared.adapters import entities
from shared.domain.errors import ConcurrencyConflict, RecordNotFound
from shared.domain.model import ImageVersion, LifecycleEvent, Pointers, RejectedMessage, Run, VersionNumber
from shared.domain.records import Changes, Loaded, WorkloadRecords, number_audit


class MemoryRecordStore:
    """Stores encoded entities with ETags, so encoding and concurrency behave like the real thing."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        self._etags = itertools.count(1)
        self._lock = threading.Lock()
        self.round_trips = 0

    def _get(self, workload: str, row_key: str) -> tuple[dict[str, Any], str] | None:
        self.round_trips += 1
        return self._rows.get((entities.partition(workload), row_key))

    def _query(self, workload: str, prefix: str) -> list[tuple[dict[str, Any], str]]:
        partition = entities.partition(workload)
        self.round_trips += 1
        return [row for (pk, rk), row in sorted(self._rows.items()) if pk == partition and rk.startswith(prefix)]

    def load(self, workload: str, *, run_id: str | None = None, version: VersionNumber | None = None) -> Loaded:
        partition = entities.partition(workload)
        keys = entities.load_keys(run_id, version)
        self.round_trips += 1
        rows = {key: self._rows.get((partition, key)) for key in keys}
        return entities.loaded(workload, rows)

    def load_workload(self, workload: str) -> WorkloadRecords:
        partition = entities.partition(workload)
        low, high = entities.WORKLOAD_RANGE
        self.round_trips += 1
        rows = [row for (pk, rk), row in sorted(self._rows.items()) if pk == partition and low <= rk < high]
        return entities.workload_records(workload, rows)

    def find_version(self, workload: str, version: VersionNumber) -> ImageVersion | None:
        row = self._get(workload, entities.version_key(version))
        return entities.decode(row[0], ImageVersion, row[1]) if row else None

    def get_version(self, workload: str, version: VersionNumber) -> ImageVersion:
        found = self.find_version(workload, version)
        if found is None:
            raise RecordNotFound(f"workload {workload!r} has no version {version}")
        return found

    def list_versions(self, workload: str) -> list[ImageVersion]:
        rows = self._query(workload, entities.VERSION_PREFIX)
        return [entities.decode(e, ImageVersion, etag) for e, etag in rows]

    def get_pointers(self, workload: str) -> Pointers:
        row = self._get(workload, entities.POINTERS_KEY)
        return entities.decode(row[0], Pointers, row[1]) if row else Pointers(workload=workload)

    def find_run(self, workload: str, run_id: str) -> Run | None:
        row = self._get(workload, entities.run_key(run_id))
        return entities.decode(row[0], Run, row[1]) if row else None

    def list_runs(self, workload: str) -> list[Run]:
        return [entities.decode(e, Run, etag) for e, etag in self._query(workload, entities.RUN_PREFIX)]

    def list_events(self, workload: str, version: VersionNumber | None = None) -> list[LifecycleEvent]:
        prefix = entities.EVENT_PREFIX + (f"{version.key}:" if version else "")
        events = [entities.decode(e, LifecycleEvent, None) for e, _ in self._query(workload, prefix)]
        return sorted(events, key=lambda e: (e.at, e.seq))

    def commit(self, changes: Changes) -> None:
        entities.partition(changes.workload)
        versions, pointers, events = number_audit(changes)
        writes: list[tuple[str, Any, str | None]] = [(entities.version_key(v.version), v, v.etag) for v in versions]
        if pointers is not None:
            writes.append((entities.POINTERS_KEY, pointers, pointers.etag))
        if changes.run is not None:
            writes.append((entities.run_key(changes.run.run_id), changes.run, changes.run.etag))
        writes += [(entities.event_key(e), e, None) for e in events]
        with self._lock:
            self.round_trips += 1
            for row_key, _, etag in writes:
                current = self._rows.get((changes.workload, row_key))
                if etag is None and current is not None:
                    raise ConcurrencyConflict(f"{changes.workload}/{row_key} already exists")
                if etag is not None and (current is None or current[1] != etag):
                    raise ConcurrencyConflict(f"{changes.workload}/{row_key} changed since it was read")
            for row_key, record, _ in writes:
                entity = entities.encode(changes.workload, row_key, record)
                self._rows[(changes.workload, row_key)] = (entity, f'W/"{next(self._etags)}"')

    def reject(self, message: RejectedMessage) -> None:
        entity = entities.rejected_entity(message)
        with self._lock:
            self.round_trips += 1
            self._rows[(entities.REJECTED_PARTITION, entity["RowKey"])] = (entity, f'W/"{next(self._etags)}"')

    def list_rejections(self) -> list[RejectedMessage]:
        self.round_trips += 1
        rows = [e for (pk, _), (e, _) in self._rows.items() if pk == entities.REJECTED_PARTITION]
        return sorted((entities.decode(e, RejectedMessage, None) for e in rows), key=lambda m: m.at)

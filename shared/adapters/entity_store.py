"""Everything the record store does, over four storage primitives.

The in-memory fake and Table Storage implement only the primitives (point read, range
query, keyed read, transaction, upsert), so both keep exactly the same contract.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

from shared.adapters import entities
from shared.domain.errors import RecordNotFound
from shared.domain.health import WorkloadHealth
from shared.domain.model import ImageVersion, LifecycleEvent, Pointers, RejectedMessage, Run, VersionNumber
from shared.domain.records import Changes, Loaded, WorkloadRecords, number_audit

Row = tuple[dict[str, Any], str]  # (entity, etag)
Write = tuple[str, dict[str, Any], str | None]  # (row key, entity, etag to match; None = must not exist)
RECENT_LIMIT = 4096  # records remembered per instance (runs, versions, pointers); the oldest go first
_RECENT_LOCK = threading.Lock()


class EntityStore(ABC):
    round_trips: int

    @abstractmethod
    def _point(self, partition: str, row_key: str) -> Row | None: ...

    @abstractmethod
    def _range(self, partition: str, low: str, high: str) -> list[Row]: ...

    @abstractmethod
    def _keyed(self, partition: str, keys: list[str]) -> dict[str, Row | None]:
        """Several rows of one partition in one round trip."""

    @abstractmethod
    def _transact(self, partition: str, writes: list[Write]) -> None:
        """All or nothing; ConcurrencyConflict when an ETag no longer matches or a create finds a row."""

    @abstractmethod
    def _upsert(self, entity: dict[str, Any]) -> None: ...

    def _prefix(self, workload: str, prefix: str) -> list[Row]:
        low, high = entities.prefix_range(prefix)
        return self._range(entities.partition(workload), low, high)

    def load(self, workload: str, *, run_id: str | None = None, version: VersionNumber | None = None) -> Loaded:
        keys = entities.load_keys(run_id, version)
        return entities.loaded(workload, self._keyed(entities.partition(workload), keys))

    def load_workload(self, workload: str) -> WorkloadRecords:
        low, high = entities.WORKLOAD_RANGE
        return entities.workload_records(workload, self._range(entities.partition(workload), low, high))

    def find_version(self, workload: str, version: VersionNumber) -> ImageVersion | None:
        row = self._point(entities.partition(workload), entities.version_key(version))
        return entities.decode(row[0], ImageVersion, row[1]) if row else None

    def get_version(self, workload: str, version: VersionNumber) -> ImageVersion:
        found = self.find_version(workload, version)
        if found is None:
            raise RecordNotFound(f"workload {workload!r} has no version {version}")
        return found

    def list_versions(self, workload: str) -> list[ImageVersion]:
        return [entities.decode(e, ImageVersion, etag) for e, etag in self._prefix(workload, entities.VERSION_PREFIX)]

    def get_pointers(self, workload: str) -> Pointers:
        row = self._point(entities.partition(workload), entities.POINTERS_KEY)
        return entities.decode(row[0], Pointers, row[1]) if row else Pointers(workload=workload)

    def find_run(self, workload: str, run_id: str) -> Run | None:
        row = self._point(entities.partition(workload), entities.run_key(run_id))
        return entities.decode(row[0], Run, row[1]) if row else None

    def list_runs(self, workload: str) -> list[Run]:
        return [entities.decode(e, Run, etag) for e, etag in self._prefix(workload, entities.RUN_PREFIX)]

    def list_events(self, workload: str, version: VersionNumber | None = None) -> list[LifecycleEvent]:
        prefix = entities.EVENT_PREFIX + (f"{version.key}:" if version else "")
        events = [entities.decode(e, LifecycleEvent, None) for e, _ in self._prefix(workload, prefix)]
        return sorted(events, key=lambda e: (e.at, e.seq))

    def commit(self, changes: Changes) -> None:
        partition = entities.partition(changes.workload)
        versions, pointers, events = number_audit(changes)
        records: list[tuple[str, Any, str | None]] = [(entities.version_key(v.version), v, v.etag) for v in versions]
        if pointers is not None:
            records.append((entities.POINTERS_KEY, pointers, pointers.etag))
        if changes.run is not None:
            records.append((entities.run_key(changes.run.run_id), changes.run, changes.run.etag))
        records += [(entities.event_key(e), e, None) for e in events]
        if records:
            self._transact(partition, [(key, entities.encode(partition, key, r), etag) for key, r, etag in records])
            self._remember(partition, [(key, r) for key, r, _ in records if not isinstance(r, LifecycleEvent)])

    # -- what this instance committed last: hints that cost no round trip ---------------------------------

    def _remember(self, partition: str, records: list[tuple[str, Any]]) -> None:
        with _RECENT_LOCK:
            recent: dict[tuple[str, str], Any] = self.__dict__.setdefault("_recent", {})
            for key, record in records:
                recent.pop((partition, key), None)  # re-inserted last: the dict's order is its age
                recent[(partition, key)] = record
            while len(recent) > RECENT_LIMIT:
                recent.pop(next(iter(recent)))

    def _recalled(self, workload: str, key: str) -> Any:
        with _RECENT_LOCK:
            return self.__dict__.get("_recent", {}).get((entities.partition(workload), key))

    def recall_run(self, workload: str, run_id: str) -> Run | None:
        found = self._recalled(workload, entities.run_key(run_id))
        return found if isinstance(found, Run) else None

    def recall_version(self, workload: str, version: VersionNumber) -> ImageVersion | None:
        found = self._recalled(workload, entities.version_key(version))
        return found if isinstance(found, ImageVersion) else None

    def recall_pointers(self, workload: str) -> Pointers | None:
        found = self._recalled(workload, entities.POINTERS_KEY)
        return found if isinstance(found, Pointers) else None

    def reject(self, message: RejectedMessage) -> None:
        self._upsert(entities.rejected_entity(message))

    def list_rejections(self) -> list[RejectedMessage]:
        rows = self._range(entities.REJECTED_PARTITION, "", "~")
        return sorted((entities.decode(e, RejectedMessage, None) for e, _ in rows), key=lambda m: m.at)

    def put_health(self, health: WorkloadHealth) -> None:
        partition = entities.partition(health.workload)
        self._upsert(entities.encode(partition, entities.HEALTH_KEY, health))

    def get_health(self, workload: str) -> WorkloadHealth | None:
        row = self._point(entities.partition(workload), entities.HEALTH_KEY)
        return entities.decode(row[0], WorkloadHealth, None) if row else None

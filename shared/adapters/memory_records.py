"""In-memory record store with Table Storage's contract, for handler unit tests only."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from shared.adapters.entity_store import EntityStore, Row, Write
from shared.domain.errors import ConcurrencyConflict


class MemoryRecordStore(EntityStore):
    """Stores encoded entities with ETags, so encoding and concurrency behave like the real thing."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Row] = {}
        self._etags = itertools.count(1)
        self._lock = threading.Lock()
        self.round_trips = 0

    def _point(self, partition: str, row_key: str) -> Row | None:
        self.round_trips += 1
        return self._rows.get((partition, row_key))

    def _range(self, partition: str, low: str, high: str) -> list[Row]:
        self.round_trips += 1
        return [row for (pk, rk), row in sorted(self._rows.items()) if pk == partition and low <= rk < high]

    def _keyed(self, partition: str, keys: list[str]) -> dict[str, Row | None]:
        self.round_trips += 1
        return {key: self._rows.get((partition, key)) for key in keys}

    def _transact(self, partition: str, writes: list[Write]) -> None:
        with self._lock:
            self.round_trips += 1
            for row_key, _, etag in writes:
                current = self._rows.get((partition, row_key))
                if etag is None and current is not None:
                    raise ConcurrencyConflict(f"{partition}/{row_key} already exists")
                if etag is not None and (current is None or current[1] != etag):
                    raise ConcurrencyConflict(f"{partition}/{row_key} changed since it was read")
            for row_key, entity, _ in writes:
                self._rows[(partition, row_key)] = (entity, f'W/"{next(self._etags)}"')

    def _upsert(self, entity: dict[str, Any]) -> None:
        with self._lock:
            self.round_trips += 1
            self._rows[(entity["PartitionKey"], entity["RowKey"])] = (entity, f'W/"{next(self._etags)}"')

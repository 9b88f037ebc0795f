"""An in-memory record store indexed like Table Storage, so it is not what a benchmark measures.

`MemoryRecordStore` (handler unit tests) answers a range query by sorting every row of every
partition: at 500 workloads that sort, not the product, dominated the concurrency benchmark.
This store keeps a sorted row-key list per partition (range query: two bisections) and counts
the transactions it applied itself, below the `commit` the benchmarks' Probe wraps, so the two
counts are independent.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.adapters.entity_store import Row, Write
from shared.adapters.memory_records import MemoryRecordStore


class IndexedMemoryRecordStore(MemoryRecordStore):
    """MemoryRecordStore's contract (ETags, conflicts, round trips) with per-partition sorted keys."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, list[str]] = {}
        self.transactions = 0  # single-partition transactions applied (entity group batches)
        self.cpu_seconds = 0.0  # CPU time spent inside the store, to show it is not the bottleneck

    @contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu_seconds += time.process_time() - started

    def _point(self, partition: str, row_key: str) -> Row | None:
        with self._timed():
            return super()._point(partition, row_key)

    def _keyed(self, partition: str, keys: list[str]) -> dict[str, Row | None]:
        with self._timed():
            return super()._keyed(partition, keys)

    def _index(self, partition: str, row_key: str) -> None:
        keys = self._keys.setdefault(partition, [])
        at = bisect.bisect_left(keys, row_key)
        if at == len(keys) or keys[at] != row_key:
            keys.insert(at, row_key)

    def _range(self, partition: str, low: str, high: str) -> list[Row]:
        with self._timed():
            self.round_trips += 1
            keys = self._keys.get(partition, [])
            chosen = keys[bisect.bisect_left(keys, low) : bisect.bisect_left(keys, high)]
            return [self._rows[(partition, key)] for key in chosen]

    def _transact(self, partition: str, writes: list[Write]) -> None:
        with self._timed():
            super()._transact(partition, writes)  # raises on a conflict before anything is written
            with self._lock:
                self.transactions += 1
                for row_key, _, _ in writes:
                    self._index(partition, row_key)

    def _upsert(self, entity: dict[str, Any]) -> None:
        with self._timed():
            super()._upsert(entity)
            with self._lock:
                self._index(entity["PartitionKey"], entity["RowKey"])

"""The record store on Azure Table Storage (Azurite locally): one table, one partition per workload."""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.adapters import entities
from shared.domain.errors import ConcurrencyConflict, RecordNotFound
from shared.domain.model import ImageVersion, LifecycleEvent, Pointers, RejectedMessage, Run, VersionNumber
from shared.domain.records import Changes, Loaded, WorkloadRecords, number_audit

CONFLICT_CODES = {"UpdateConditionNotSatisfied", "EntityAlreadyExists", "ConditionNotMet"}
QUERY = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"


class TableRecordStore:
    """Every read is a point read or a single-partition parameterized range query."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._created = False
        self.round_trips = 0

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str) -> TableRecordStore:
        return cls(TableClient.from_connection_string(connection_string, table_name=table_name))

    @classmethod
    def from_endpoint(cls, endpoint: str, table_name: str, credential: TokenCredential) -> TableRecordStore:
        return cls(TableClient(endpoint=endpoint, table_name=table_name, credential=credential))

    def ensure_table(self) -> None:
        if self._created:
            return
        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()
        self._created = True

    def _get(self, workload: str, row_key: str) -> tuple[dict[str, Any], str] | None:
        self.ensure_table()
        self.round_trips += 1
        try:
            entity = self._table.get_entity(partition_key=entities.partition(workload), row_key=row_key)
        except ResourceNotFoundError:
            return None
        return dict(entity), str(entity.metadata["etag"])

    def _query(self, workload: str, prefix: str) -> list[tuple[dict[str, Any], str]]:
        self.ensure_table()
        self.round_trips += 1
        low, high = entities.prefix_range(prefix)
        parameters = {"pk": entities.partition(workload), "low": low, "high": high}
        pages = self._table.query_entities(QUERY, parameters=parameters)
        return [(dict(e), str(e.metadata["etag"])) for e in pages]

    def load(self, workload: str, *, run_id: str | None = None, version: VersionNumber | None = None) -> Loaded:
        keys = entities.load_keys(run_id, version)
        parameters = {"pk": entities.partition(workload)} | {f"k{i}": key for i, key in enumerate(keys)}
        wanted = " or ".join(f"RowKey eq @k{i}" for i in range(len(keys)))
        self.ensure_table()
        self.round_trips += 1
        found = self._table.query_entities(f"PartitionKey eq @pk and ( {wanted} )", parameters=parameters)
        rows = {str(e["RowKey"]): (dict(e), str(e.metadata["etag"])) for e in found}
        return entities.loaded(workload, {key: rows.get(key) for key in keys})

    def load_workload(self, workload: str) -> WorkloadRecords:
        low, high = entities.WORKLOAD_RANGE
        self.ensure_table()
        self.round_trips += 1
        parameters = {"pk": entities.partition(workload), "low": low, "high": high}
        found = self._table.query_entities(QUERY, parameters=parameters)
        return entities.workload_records(workload, [(dict(e), str(e.metadata["etag"])) for e in found])

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
        records: list[tuple[str, Any, str | None]] = [(entities.version_key(v.version), v, v.etag) for v in versions]
        if pointers is not None:
            records.append((entities.POINTERS_KEY, pointers, pointers.etag))
        if changes.run is not None:
            records.append((entities.run_key(changes.run.run_id), changes.run, changes.run.etag))
        records += [(entities.event_key(e), e, None) for e in events]
        operations: list[Any] = []
        for row_key, record, etag in records:
            entity = entities.encode(changes.workload, row_key, record)
            if etag is None:
                operations.append(("create", entity))
            else:
                condition = {
                    "mode": UpdateMode.REPLACE,
                    "etag": etag,
                    "match_condition": MatchConditions.IfNotModified,
                }
                operations.append(("update", entity, condition))
        if not operations:
            return
        self.ensure_table()
        self.round_trips += 1
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            code = getattr(error, "error_code", None)
            if code in CONFLICT_CODES or error.status_code in (409, 412):
                raise ConcurrencyConflict(f"{changes.workload}: a record changed since it was read ({code})") from None
            raise
        except HttpResponseError as error:
            if error.status_code in (409, 412):
                raise ConcurrencyConflict(f"{changes.workload}: a record changed since it was read") from None
            raise

    def reject(self, message: RejectedMessage) -> None:
        self.ensure_table()
        self.round_trips += 1
        self._table.upsert_entity(entities.rejected_entity(message), mode=UpdateMode.REPLACE)

    def list_rejections(self) -> list[RejectedMessage]:
        self.ensure_table()
        self.round_trips += 1
        found = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": entities.REJECTED_PARTITION})
        return sorted((entities.decode(dict(e), RejectedMessage, None) for e in found), key=lambda m: m.at)

"""The record store on Azure Table Storage (Azurite locally): one table, one partition per workload.

Every read is a point read or a single-partition parameterized query; every write of a state
transition is one ETag-conditioned batch transaction.
"""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.adapters.entity_store import EntityStore, Row, Write
from shared.domain.errors import ConcurrencyConflict

CONFLICT_CODES = {"UpdateConditionNotSatisfied", "EntityAlreadyExists", "ConditionNotMet"}
RANGE = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"


class TableRecordStore(EntityStore):
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

    def _trip(self) -> None:
        self.ensure_table()
        self.round_trips += 1

    @staticmethod
    def _row(entity: Any) -> Row:
        return dict(entity), str(entity.metadata["etag"])

    def _point(self, partition: str, row_key: str) -> Row | None:
        self._trip()
        try:
            return self._row(self._table.get_entity(partition_key=partition, row_key=row_key))
        except ResourceNotFoundError:
            return None

    def _range(self, partition: str, low: str, high: str) -> list[Row]:
        self._trip()
        found = self._table.query_entities(RANGE, parameters={"pk": partition, "low": low, "high": high})
        return [self._row(e) for e in found]

    def _keyed(self, partition: str, keys: list[str]) -> dict[str, Row | None]:
        self._trip()
        parameters = {"pk": partition} | {f"k{i}": key for i, key in enumerate(keys)}
        wanted = " or ".join(f"RowKey eq @k{i}" for i in range(len(keys)))
        # spaces around the parentheses: the SDK's parameter substitution splits on whitespace
        found = self._table.query_entities(f"PartitionKey eq @pk and ( {wanted} )", parameters=parameters)
        rows = {str(e["RowKey"]): self._row(e) for e in found}
        return {key: rows.get(key) for key in keys}

    def _transact(self, partition: str, writes: list[Write]) -> None:
        operations: list[Any] = []
        for _, entity, etag in writes:
            if etag is None:
                operations.append(("create", entity))
            else:
                condition = {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
                operations.append(("update", entity, condition))
        self._trip()
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            code = getattr(error, "error_code", None)
            if code in CONFLICT_CODES or error.status_code in (409, 412):
                raise ConcurrencyConflict(f"{partition}: a record changed since it was read ({code})") from None
            raise
        except HttpResponseError as error:
            if error.status_code in (409, 412):
                raise ConcurrencyConflict(f"{partition}: a record changed since it was read") from None
            raise

    def _upsert(self, entity: dict[str, Any]) -> None:
        self._trip()
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

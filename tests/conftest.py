"""Shared fixtures: builders for domain records and the two record stores."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.memory_records import MemoryRecordStore
from shared.adapters.table_records import TableRecordStore
from shared.domain.model import BuildReason, ImageVersion, VersionNumber

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def make_version(text: str = "1.0.0", workload: str = "office", **changes: object) -> ImageVersion:
    version = VersionNumber.parse(text)
    record = ImageVersion(
        workload=workload,
        version=version,
        display_name=f"Win11 | Office | v{version.major}.{version.minor} | 2026-11",
        build_reason=BuildReason.FIRST,
        run_id="run-0001",
        requested_by="builder@contoso.com",
        created_at=T0,
        source_image="MicrosoftWindowsDesktop:windows-11:win11-24h2-avd:latest",
    )
    return record.evolve(**changes)


def azurite_connection_string() -> str:
    value = os.environ.get("AVD_TABLES_CONNECTION_STRING")
    if not value:
        pytest.fail("AVD_TABLES_CONNECTION_STRING is not set: run the tests with `make test`, which starts Azurite")
    return value


@pytest.fixture
def table_store() -> Iterator[TableRecordStore]:
    """A fresh table in Azurite for each test, dropped afterwards."""
    store = TableRecordStore.from_connection_string(azurite_connection_string(), f"t{uuid.uuid4().hex[:20]}")
    store.ensure_table()
    yield store
    store._table.delete_table()


@pytest.fixture(params=["memory", "azurite"])
def store(request: pytest.FixtureRequest) -> MemoryRecordStore | TableRecordStore:
    """The record-store contract is the same for the fake and for Table Storage."""
    if request.param == "memory":
        return MemoryRecordStore()
    return request.getfixturevalue("table_store")  # type: ignore[no-any-return]

"""End-to-end fixtures: the product on the simulator with Table Storage in Azurite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from localrun.runtime import LocalRuntime
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import Catalog, Retention, load_catalog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog")


def with_retention(catalog: Catalog, workload: str, **retention: object) -> Catalog:
    """The catalog with one workload's retention policy changed."""
    changed = [
        w.model_copy(update={"retention": Retention.model_validate(retention)}) if w.name == workload else w
        for w in catalog.workloads
    ]
    return Catalog(workloads=tuple(changed))


@pytest.fixture
def runtime_factory(table_store: TableRecordStore) -> Callable[..., LocalRuntime]:
    def make(catalog: Catalog, **options: object) -> LocalRuntime:
        return LocalRuntime(catalog, records=table_store, **options)  # type: ignore[arg-type]

    return make

"""The record-store contract, run against the in-memory fake and against Azurite."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.domain import lifecycle
from shared.domain.errors import ConcurrencyConflict, InvalidInput, RecordNotFound
from shared.domain.model import App, Manifest, Pointers, Status, VersionNumber
from shared.domain.records import AuditEntry, Changes, RecordStore
from tests.conftest import T0, make_version

V1 = VersionNumber.parse("1.0.0")


def create(store: RecordStore, text: str = "1.0.0", workload: str = "office") -> None:
    version = make_version(text, workload)
    store.commit(
        Changes(
            workload=workload,
            versions=[version],
            audit=[
                AuditEntry(
                    at=T0, kind="build-started", actor="scheduler", detail="patch rebuild", version=version.version
                )
            ],
        )
    )


def test_round_trip_keeps_every_field(store: RecordStore) -> None:
    """A version written and read back is equal to what was written, manifest included."""
    manifest = Manifest(os_build="26100.2605", hotfixes=("KB1",), apps=(App(name="Office", version="16"),))
    version = make_version(manifest=manifest)
    store.commit(Changes(workload="office", versions=[version]))
    read = store.get_version("office", V1)
    assert read.model_dump() == version.model_dump()
    assert read.etag


def test_large_manifest_is_split_across_columns(store: RecordStore) -> None:
    """A manifest far over one property's 64 KiB limit still round-trips."""
    apps = tuple(App(name=f"Contoso App {i:04d} with a long descriptive name", version=f"1.{i}.0") for i in range(2500))
    store.commit(Changes(workload="office", versions=[make_version(manifest=Manifest(apps=apps))]))
    assert store.get_version("office", V1).manifest.apps == apps


def test_versions_list_in_version_order(store: RecordStore) -> None:
    """Zero-padded keys make 1.10.0 sort after 1.9.0 and 2.0.0 after both."""
    for text in ("2.0.0", "1.10.0", "1.9.0", "1.0.1"):
        create(store, text)
    assert [str(v.version) for v in store.list_versions("office")] == ["1.0.1", "1.9.0", "1.10.0", "2.0.0"]


def test_partitions_are_isolated(store: RecordStore) -> None:
    """One workload's query never returns another workload's versions."""
    create(store, "1.0.0", "office")
    create(store, "1.0.0", "data-analyst")
    assert [v.workload for v in store.list_versions("office")] == ["office"]


def test_missing_records(store: RecordStore) -> None:
    """Absent versions raise RecordNotFound; absent pointers and runs read as empty."""
    with pytest.raises(RecordNotFound, match="no version 9.9.9"):
        store.get_version("office", VersionNumber.parse("9.9.9"))
    assert store.get_pointers("office") == Pointers(workload="office")
    assert store.find_run("office", "run-x") is None


def test_creating_twice_is_a_conflict(store: RecordStore) -> None:
    """A record without an ETag is a create; creating an existing one conflicts."""
    create(store)
    with pytest.raises(ConcurrencyConflict):
        store.commit(Changes(workload="office", versions=[make_version()]))


def test_stale_writer_gets_a_conflict_and_nothing_is_lost(store: RecordStore) -> None:
    """Two writers read the same version; the first commit wins, the second is refused."""
    create(store)
    first = store.get_version("office", V1)
    second = store.get_version("office", V1)
    store.commit(Changes(workload="office", versions=[lifecycle.start_capture(first)]))
    with pytest.raises(ConcurrencyConflict):
        store.commit(Changes(workload="office", versions=[lifecycle.fail(second, "stale decision")]))
    assert store.get_version("office", V1).status is Status.CAPTURING


def test_concurrent_threads_one_wins(store: RecordStore) -> None:
    """Racing threads on one version: exactly one commit succeeds, the others conflict."""
    create(store)
    read = [store.get_version("office", V1) for _ in range(4)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(read))

    def write(version: object) -> None:
        barrier.wait()
        try:
            store.commit(Changes(workload="office", versions=[lifecycle.start_capture(version)]))  # type: ignore[arg-type]
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(v,)) for v in read]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]


def test_state_and_audit_commit_together_or_not_at_all(store: RecordStore) -> None:
    """A conflict on one record of a commit leaves every other record of it unwritten."""
    create(store)
    stale = store.get_version("office", V1)
    store.commit(Changes(workload="office", versions=[lifecycle.start_capture(stale)]))
    pointers = store.get_pointers("office")
    with pytest.raises(ConcurrencyConflict):
        store.commit(
            Changes(
                workload="office",
                versions=[lifecycle.fail(stale, "late")],
                pointers=pointers.evolve(test=V1),
                audit=[AuditEntry(at=T0, kind="failed", actor="step", detail="late", version=V1)],
            )
        )
    assert store.get_pointers("office").test is None
    assert [e.kind for e in store.list_events("office", V1)] == ["build-started"]


def test_audit_entries_are_numbered_per_version(store: RecordStore) -> None:
    """Each version's audit trail is numbered 0, 1, 2 ... and read back in time order."""
    create(store)
    current = store.get_version("office", V1)
    later = T0 + timedelta(minutes=5)
    store.commit(
        Changes(
            workload="office",
            versions=[lifecycle.start_capture(current)],
            audit=[
                AuditEntry(at=later, kind="capture-started", actor="step:capture", detail="x", version=V1),
                AuditEntry(at=later, kind="note", actor="step:capture", detail="y", version=V1),
            ],
        )
    )
    events = store.list_events("office", V1)
    assert [(e.seq, e.kind) for e in events] == [(0, "build-started"), (1, "capture-started"), (2, "note")]
    assert store.get_version("office", V1).event_count == 3


def test_workload_level_audit_goes_with_pointers(store: RecordStore) -> None:
    """Refusals about no particular version are numbered on the workload's pointers record."""
    pointers = store.get_pointers("office")
    store.commit(
        Changes(
            workload="office",
            pointers=pointers,
            audit=[AuditEntry(at=T0, kind="approval-refused", actor="approvals", detail="unknown version 9.9.9")],
        )
    )
    assert [e.detail for e in store.list_events("office")] == ["unknown version 9.9.9"]
    assert store.get_pointers("office").event_count == 1


@pytest.mark.parametrize(
    "hostile",
    ["office' or ''='", "../office", "office\x00", "a" * 10_000, "Office", "o", "office/..", "PartitionKey eq 'x'"],
)
def test_hostile_workload_names_never_reach_a_query(store: RecordStore, hostile: str) -> None:
    """A hostile workload string is refused by validation before any key or filter is built."""
    with pytest.raises(InvalidInput, match="invalid workload name"):
        store.list_versions(hostile)
    with pytest.raises(InvalidInput, match="invalid workload name"):
        store.get_pointers(hostile)

"""Table Storage's limits (64 KiB per property, measured in UTF-16; 1 MiB per entity), on Azurite."""

from __future__ import annotations

import json
from pathlib import Path

from localrun.runtime import LocalRuntime
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import load_catalog
from shared.domain.model import Stage
from shared.domain.records import AuditEntry
from tests.conftest import T0, make_version

ROOT = Path(__file__).resolve().parents[2]


def test_a_160_kb_approval_of_emoji_is_kept_as_a_rejected_message(table_store: TableRecordStore) -> None:
    """A body Table Storage cannot hold whole is stored truncated, with its size and hash, and listed."""
    runtime = LocalRuntime(load_catalog(ROOT / "catalog"), records=table_store)
    body = json.dumps(
        {"workload": "office", "version": "1.0.0", "target_stage": "test", "reason": "\U0001f600" * 40_000},
        ensure_ascii=False,
    )
    assert len(body.encode("utf-8")) > 150_000
    runtime.approve(body, message_id="emoji-flood")
    runtime.run()
    kept = [r for r in table_store.list_rejections() if r.message_id == "emoji-flood"]
    assert len(kept) == 1
    assert kept[0].body.startswith('{"workload": "office"')
    assert f"{len(body)} characters" in kept[0].body
    assert "sha256 " in kept[0].body
    assert runtime.bus.dead_letters[0].reason == "Rejected"  # refused once, not retried until dead-lettered


def test_records_with_characters_outside_the_bmp_round_trip(table_store: TableRecordStore) -> None:
    """A manifest full of emoji (two UTF-16 units each) is split under the property limit and read back."""
    from shared.domain.model import App, Manifest
    from shared.domain.records import Changes

    apps = tuple(App(name="\U0001f4e6" * 200 + str(n), version="1.0") for n in range(200))
    version = make_version("1.0.0", stage=Stage.TEST, manifest=Manifest(apps=apps))
    entry = AuditEntry(at=T0, kind="built", actor="test", detail="emoji", version=version.version)
    table_store.commit(Changes(workload="office", versions=[version], audit=[entry]))
    assert table_store.get_version("office", version.version).manifest.apps == apps

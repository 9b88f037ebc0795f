"""How records become Table Storage entities: row keys, and a JSON body split into columns.

A string property holds at most 64 KiB (32K UTF-16 code units; a character outside the BMP,
an emoji, takes two), so large bodies (manifests with hundreds of apps) are split into
`body0`, `body1`, ... of at most CHUNK code units; a few plain columns stay readable in
Storage Explorer. An entity holds at most 1 MiB: a refused message's body is truncated (with
its size and SHA-256 kept) so every refusal can be stored.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.domain import naming
from shared.domain.health import WorkloadHealth
from shared.domain.model import ImageVersion, LifecycleEvent, Pointers, RejectedMessage, Run, VersionNumber
from shared.domain.records import Loaded, WorkloadRecords

CHUNK = 30_000  # UTF-16 code units per column: under the 64 KiB property limit
VERSION_PREFIX = "version:"
RUN_PREFIX = "run:"
EVENT_PREFIX = "event:"
POINTERS_KEY = "pointers"
HEALTH_KEY = "reconcile"  # the last reconcile result; inside WORKLOAD_RANGE, so a pass reads it for free
WORKLOAD_EVENTS = "workload"
REJECTED_PARTITION = "rejected-messages"  # not a workload: "--" can never be in a workload name
MAX_BODY = 30_000  # characters of a refused message's body that are kept
MAX_REASON = 4_000

Record = TypeVar("Record", bound=BaseModel)


def partition(workload: str) -> str:
    """The partition key: a validated workload name, so nothing hostile reaches a key or filter."""
    return naming.workload_name(workload)


def version_key(version: VersionNumber) -> str:
    return f"{VERSION_PREFIX}{version.key}"


def run_key(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def event_key(event: LifecycleEvent) -> str:
    owner = event.version.key if event.version is not None else WORKLOAD_EVENTS
    return f"{EVENT_PREFIX}{owner}:{event.seq:08d}"


def prefix_range(prefix: str) -> tuple[str, str]:
    """RowKey bounds [low, high) that select exactly the keys starting with prefix."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def utf16_units(text: str) -> int:
    """Table Storage measures strings in UTF-16: a character outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def chunks(text: str, limit: int = CHUNK) -> list[str]:
    """Split `text` into pieces of at most `limit` UTF-16 code units, never inside a character."""
    if utf16_units(text) == len(text):  # all in the BMP: plain slices
        return [text[i : i + limit] for i in range(0, max(len(text), 1), limit)]
    pieces: list[str] = []
    start, units = 0, 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            pieces.append(text[start:index])
            start, units = index, 0
        units += width
    pieces.append(text[start:])
    return pieces


def encode(workload: str, row_key: str, record: BaseModel) -> dict[str, Any]:
    body = record.model_dump_json()
    entity: dict[str, Any] = {"PartitionKey": workload, "RowKey": row_key}
    for index, piece in enumerate(chunks(body)):
        entity[f"body{index}"] = piece
    for column in ("status", "stage", "display_name", "state", "step", "kind"):
        value = getattr(record, column, None)
        if value is not None:
            entity[column] = str(value)
    return entity


def decode(entity: dict[str, Any], model: type[Record], etag: str | None) -> Record:
    parts: list[str] = []
    index = 0
    while f"body{index}" in entity:
        parts.append(str(entity[f"body{index}"]))
        index += 1
    record = model.model_validate_json("".join(parts))
    if isinstance(record, ImageVersion | Pointers | Run):
        return record.model_copy(update={"etag": etag})  # type: ignore[return-value] # same type as model
    return record


def load_keys(run_id: str | None, version: VersionNumber | None) -> list[str]:
    keys = [POINTERS_KEY]
    if run_id is not None:
        keys.append(run_key(naming.run_id(run_id)))
    if version is not None:
        keys.append(version_key(version))
    return keys


def loaded(workload: str, rows: dict[str, tuple[dict[str, Any], str] | None]) -> Loaded:
    """Decode the rows of a `load` call; absent pointers read as empty."""
    pointers = Pointers(workload=workload)
    run: Run | None = None
    version: ImageVersion | None = None
    for key, row in rows.items():
        if row is None:
            continue
        if key == POINTERS_KEY:
            pointers = decode(row[0], Pointers, row[1])
        elif key.startswith(RUN_PREFIX):
            run = decode(row[0], Run, row[1])
        else:
            version = decode(row[0], ImageVersion, row[1])
    return Loaded(pointers=pointers, run=run, version=version)


def rejected_entity(message: RejectedMessage) -> dict[str, Any]:
    digest = hashlib.sha256(f"{message.source}:{message.message_id}".encode()).hexdigest()[:32]
    body = message.body
    if len(body) > MAX_BODY:
        raw = body.encode("utf-8", errors="replace")
        body = (
            body[:MAX_BODY] + f"\n[truncated: {len(message.body)} characters, {len(raw)} bytes UTF-8,"
            f" sha256 {hashlib.sha256(raw).hexdigest()}]"
        )
    reason = message.reason if len(message.reason) <= MAX_REASON else message.reason[:MAX_REASON] + " [truncated]"
    kept = message.model_copy(update={"body": body, "reason": reason})
    return encode(REJECTED_PARTITION, f"{message.source}:{digest}", kept)


# "pointers" < "run:..." < "version:..." sort together; the audit rows ("event:...") sort before them.
WORKLOAD_RANGE = (POINTERS_KEY, VERSION_PREFIX[:-1] + chr(ord(VERSION_PREFIX[-1]) + 1))


def workload_records(workload: str, rows: list[tuple[dict[str, Any], str]]) -> WorkloadRecords:
    pointers = Pointers(workload=workload)
    runs: list[Run] = []
    versions: list[ImageVersion] = []
    health: WorkloadHealth | None = None
    for entity, etag in rows:
        key = str(entity["RowKey"])
        if key == POINTERS_KEY:
            pointers = decode(entity, Pointers, etag)
        elif key.startswith(RUN_PREFIX):
            runs.append(decode(entity, Run, etag))
        elif key.startswith(VERSION_PREFIX):
            versions.append(decode(entity, ImageVersion, etag))
        elif key == HEALTH_KEY:
            health = decode(entity, WorkloadHealth, None)
    return WorkloadRecords(pointers=pointers, runs=runs, versions=versions, health=health)

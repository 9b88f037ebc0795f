"""Cold path: what the host's indexing import and a function's first invocation cost in imports.

Each sample is a fresh interpreter that times, with `time.perf_counter` inside the process (the
interpreter's own start-up excluded), one of:

- ``base``: ``import azure.functions`` (the floor every Python function app pays);
- ``index``: ``import function_app`` (what the host does to index the functions);
- ``first``: ``import function_app`` and the first invocation of ``arm_events`` with an event
  for a VM the app did not create (decided from the event, Settings and a glance at the catalog's
  files, which declare no host pool: no client, record store or catalog schema is loaded).

The three run interleaved (paired), so drift in machine load hits them alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import CATALOG, ROOT
from scripts.with_azurite import connection_string

SCRIPT = """
import json, sys, time
from datetime import UTC, datetime
started = time.perf_counter()
import azure.functions as func
if sys.argv[1] != "base":
    import function_app
if sys.argv[1] == "first":
    functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    functions["arm_events"](func.EventGridEvent(
        id="e1",
        data={"operationName": "Microsoft.Compute/virtualMachines/write",
              "resourceUri": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x"},
        topic="/subscriptions/s/resourceGroups/rg", subject="s",
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        event_time=datetime(2026, 11, 2, tzinfo=UTC), data_version="2",
    ))
print(json.dumps(time.perf_counter() - started))
"""

KINDS = ("base", "index", "first")


def _env() -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "AVD_CATALOG_PATH": str(CATALOG),
        # Production wiring; the event is not ours, so no client is built or called.
        "AVD_TABLES_CONNECTION_STRING": connection_string(10002),
        "ServiceBusConnection__fullyQualifiedNamespace": "sb-bench.servicebus.windows.net",
    }


def _sample(kind: str) -> float:
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", SCRIPT, kind], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(runs: int = 15) -> dict[str, Any]:
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(runs):
        for kind in KINDS:
            samples[kind].append(_sample(kind))
    result: dict[str, Any] = {"runs": runs}
    for kind in KINDS:
        result[f"{kind}_min"] = min(samples[kind])
        result[f"{kind}_median"] = statistics.median(samples[kind])
    for kind in ("index", "first"):
        result[f"{kind}_ratio_median"] = result[f"{kind}_median"] / result["base_median"]
        result[f"{kind}_ratio_min"] = result[f"{kind}_min"] / result["base_min"]
    return result


def heaviest(kind: str = "first", count: int = 6) -> list[tuple[str, float]]:
    """The top-level imports of one ``kind`` sample by cumulative time (`python -X importtime`), in ms."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-X", "importtime", "-c", SCRIPT, kind],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    found: list[tuple[str, float]] = []
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.startswith(" ") and not name.startswith("  "):  # one space: a top-level import
            found.append((name.strip(), int(parts[1]) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]

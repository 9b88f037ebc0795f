"""The demo state the CLI and the status page are checked against.

data-analyst: 1.0.0 -> production -> dr, patch 1.0.1 -> production, rolled back (full_lifecycle),
then patch 1.0.2 -> production (1.0.0 becomes the rollback target again) and a prune with
keep=1 (1.0.1, withdrawn, is deprecated with an end-of-life date). office: 1.0.0 in test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from localrun.runtime import LocalRuntime
from localrun.scenario import build, full_lifecycle, to_production
from shared.domain.catalog import Catalog, Retention, load_catalog
from shared.domain.commands import Prune
from shared.domain.model import BuildReason

ROOT = Path(__file__).resolve().parents[2]
SECOND_PATCH_AT = datetime(2027, 1, 19, 6, 0, tzinfo=UTC)  # Patch Tuesday (Jan 12) + 7 days


def demo_catalog() -> Catalog:
    """The repository catalog with data-analyst keeping only the newest version besides those in use."""
    catalog = load_catalog(ROOT / "catalog")
    changed = [
        w.model_copy(update={"retention": Retention(keep=1)}) if w.name == "data-analyst" else w
        for w in catalog.workloads
    ]
    return Catalog(workloads=tuple(changed))


def demo_runtime() -> LocalRuntime:
    runtime = LocalRuntime(demo_catalog())
    full_lifecycle(runtime, "data-analyst")
    runtime.sim.clock.advance_to(SECOND_PATCH_AT)
    build(runtime, "data-analyst", "patch-2027-01", BuildReason.PATCH)
    to_production(runtime, "data-analyst", "1.0.2", dr=False)
    runtime.submit(Prune(workload="data-analyst", requested_at=runtime.sim.clock.now()))
    runtime.run()
    build(runtime, "office", "first-build", BuildReason.FIRST)
    return runtime

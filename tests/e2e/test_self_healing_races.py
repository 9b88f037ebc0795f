"""Self-healing scenarios of issue 13 not pinned elsewhere: two production approvals processed together."""

from __future__ import annotations

from localrun.runtime import LocalRuntime
from localrun.scenario import approvers_of, build, promote
from shared.domain.catalog import Catalog
from shared.domain.commands import Promote
from shared.domain.model import BuildReason, Stage
from tests.e2e.test_latest_per_region import WEST, latest_in
from tests.e2e.test_self_healing import WORKLOAD


def test_two_production_approvals_processed_together_leave_exactly_production_visible(catalog: Catalog) -> None:
    """Approvals of 1.0.0 and 1.0.1 for production delivered at once: 'latest' is what the records call production."""
    runtime = LocalRuntime(catalog)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    promote(runtime, WORKLOAD, "1.0.0", Stage.VALIDATION)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    promote(runtime, WORKLOAD, "1.0.1", Stage.VALIDATION)
    for version in ("1.0.1", "1.0.0"):  # every signature of both, before any is handled
        for person in approvers_of(WORKLOAD, Stage.PRODUCTION):
            runtime.submit(
                Promote(
                    workload=WORKLOAD,
                    version=version,
                    target_stage=Stage.PRODUCTION,
                    approver_token=runtime.issuer.token_for(person),
                    ticket=f"CHG-{version}",
                    reason="both approved in the same change window",
                    requested_at=runtime.sim.clock.now(),
                )
            )
    runtime.run()
    production = runtime.records.get_pointers(WORKLOAD).production
    assert production is not None
    assert latest_in(runtime, WEST) == str(production)
    health = runtime.records.get_health(WORKLOAD)
    assert health is not None
    assert health.healthy, health
    assert runtime.bus.dead_letters == [m for m in runtime.bus.dead_letters if m.reason == "Rejected"]

"""The demo's host pool chapter: two pools of office session hosts, one `auto` and one `manual`.

A patch version reaches production on a Tuesday; the auto pool waits for its Saturday-night
maintenance window and is re-imaged in batches (drain, message users, wait, sign off the rest,
recreate from the version, register, undrain). One host's agent fails: the rollout halts with
the pool serving, the admin resumes it, and then rolls the manual pool on request.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from localrun.hostpools import deploy_pool
from localrun.issuer import OFFICE_APPROVERS
from localrun.runtime import LocalRuntime
from shared.domain.catalog import Catalog
from shared.domain.commands import Envelope, Promote, StartBuild, StartRollout
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason, Stage, VersionNumber
from shared.domain.records import RecordStore
from shared.hostpools_view import estate, lines
from shared.render import status_html
from shared.steps.rollout import gallery_version_id
from shared.views import catalog_view, history

# Who signs: the sample directory's validation approver, then production's two people.
SIGNERS = [(Stage(stage), person) for stage in ("validation", "production") for person in OFFICE_APPROVERS[stage]]
SUB = "00000000-0000-0000-0000-000000000000"
POOLS_RG = "rg-avd-office-hosts"
START = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
PROMOTION_TIME = timedelta(hours=3)  # replication to production's regions ends well within this
WINDOW = {"days": ["sat"], "start": "22:00", "duration_minutes": 300, "time_zone": "Europe/Amsterdam"}


def _pool_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{POOLS_RG}/providers/Microsoft.DesktopVirtualization/hostPools/{name}"


def pools() -> tuple[HostPoolPolicy, HostPoolPolicy]:
    auto = HostPoolPolicy.model_validate(
        {
            "id": _pool_id("hp-office-pooled"),
            "rollout": "auto",
            "max_unavailable_percent": 25,
            "min_available": 6,
            "drain_grace_minutes": 30,
            "failure_threshold": 1,
            "message_title": "Desktop update tonight",
            "maintenance_window": WINDOW,
        }
    )
    manual = HostPoolPolicy.model_validate(
        {"id": _pool_id("hp-office-finance"), "rollout": "manual", "batch_size": 1, "drain_grace_minutes": 60}
    )
    return auto, manual


class Chapter:
    def __init__(self, console: Console, records: RecordStore | None, catalog: Catalog) -> None:
        self.console = console
        self.auto, self.manual = pools()
        office = catalog.get("office").model_copy(update={"host_pools": (self.auto, self.manual)})
        self.runtime = LocalRuntime(Catalog(workloads=(office,)), records=records, start=START)
        self.runtime._on_delivery = self._watch
        self.seen = 0
        self.shown_counts: dict[str, Counter[str]] = {}

    # -- output -----------------------------------------------------------------------------------
    def rule(self, title: str) -> None:
        self.console.rule(f"[bold]{self.runtime.sim.clock.now():%a %Y-%m-%d %H:%M}[/bold]  {title}")

    def counts(self, policy: HostPoolPolicy) -> Counter[str]:
        assert self.runtime.deps.hostpools is not None
        return Counter(h.exact_version for h in self.runtime.deps.hostpools.hosts(policy.id))

    def show_counts(self, label: str, only: HostPoolPolicy | None = None) -> None:
        if only is None:
            self._watch(None)  # what happened since the last delivery first
        for policy in (only,) if only is not None else (self.auto, self.manual):
            counts = ", ".join(f"{n} on {v}" for v, n in sorted(self.counts(policy).items()))
            self.console.print(f"  [magenta]{label}[/magenta] {policy.name} ({policy.rollout.value}): {counts}")

    def _watch(self, envelope: Envelope | None) -> None:
        """Print the rollout's audit as it happens, with the host counts after each batch."""
        rollouts = self.runtime.deps.rollouts
        if rollouts is None:
            return
        events = rollouts.events("office", self.auto.key) + rollouts.events("office", self.manual.key)
        events.sort(key=lambda e: (e.at, e.pool_key, e.seq))
        fresh = events[self.seen :]
        self.seen = len(events)
        for event in fresh:
            pool = self.auto.name if event.pool_key == self.auto.key else self.manual.name
            host = f" {event.host.split('.')[0]}" if event.host else ""
            when = f"[dim]{event.at:%m-%d %H:%M}[/dim]"
            self.console.print(f"  {when} [cyan]{pool}[/cyan] [bold]{event.kind}[/bold]{host} {event.detail[:140]}")
            if event.kind == "batch":
                self.show_counts("during", self.auto if pool == self.auto.name else self.manual)

    # -- the story --------------------------------------------------------------------------------
    def build(self, reason: BuildReason, run_id: str) -> None:
        self.runtime.submit(StartBuild(workload="office", run_id=run_id, reason=reason, requested_by="rebuild-timer"))
        self.runtime.run()

    def promote(self, version: str) -> None:
        runtime = self.runtime
        for stage, approver in SIGNERS:
            runtime.submit(
                Promote(
                    workload="office",
                    version=version,
                    target_stage=stage,
                    approver_token=runtime.issuer.token_for(approver),
                    ticket=f"CHG-office-{version}",
                    reason="pilot ring signed off",
                    requested_at=runtime.sim.clock.now(),
                )
            )
            runtime.run(until=runtime.sim.clock.now() + PROMOTION_TIME)
        self.console.print(f"  office {version} is production")

    def run(self) -> None:
        runtime, sim = self.runtime, self.runtime.sim
        self.console.rule(
            "[bold]Host pools[/bold]: hp-office-pooled (auto, Saturday 22:00 Amsterdam) and hp-office-finance (manual)"
        )
        self.rule("office 1.0.0 built and in production; the admin's session hosts run it")
        self.build(BuildReason.FIRST, "first-build")
        image = gallery_version_id(runtime.deps, runtime.catalog.get("office"), VersionNumber.parse("1.0.0"))
        deploy_pool(runtime, self.auto, image, hosts=8, users=0)
        deploy_pool(runtime, self.manual, image, hosts=3, users=0)
        self.promote("1.0.0")
        self.show_counts("before")

        sim.clock.advance_to(datetime(2026, 11, 17, 6, 0, tzinfo=UTC))
        self.rule("Patch Tuesday + 7: office 1.0.1 built and promoted to production")
        self.build(BuildReason.PATCH, "patch-2026-11")
        self.promote("1.0.1")
        self.show_counts("before")

        window = datetime(2026, 11, 21, 20, 55, tzinfo=UTC)
        runtime.run_until(window)
        self.rule("Saturday night: users still signed in when the maintenance window opens")
        for host in sim.desktop.list_hosts(self.auto.resource_group, self.auto.name):
            sim.desktop.add_sessions(self.auto.resource_group, self.auto.name, host.name, 3)
        sim.faults.lro_fails(
            "Microsoft.Compute/virtualMachines/extensions/write",
            "VMExtensionProvisioningError",
            "DSC configuration 'AddSessionHost' failed: the domain join timed out",
        )
        self.console.print("  (one host's AVD agent install will fail)")
        runtime.run()
        self.show_counts("halted")

        self.rule("the admin fixed the domain join and resumes: avdimage rollout hp-office-pooled")
        halted = runtime.deps.rollouts.runs("office", self.auto.key)[-1] if runtime.deps.rollouts else None
        if halted is not None:
            runtime.submit(
                StartRollout(
                    workload="office",
                    pool=self.auto.name,
                    run_id=halted.run_id,
                    version="1.0.1",
                    requested_by="euc-admin@contoso.com",
                    requested_at=sim.clock.now(),
                )
            )
        runtime.run()
        self.show_counts("after")

        sim.clock.advance_to(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        self.rule("Monday: finance asks for the update: avdimage rollout hp-office-finance")
        runtime.submit(
            StartRollout(
                workload="office",
                pool=self.manual.name,
                run_id="manual-finance-1",
                version="1.0.1",
                requested_by="euc-admin@contoso.com",
                requested_at=sim.clock.now(),
            )
        )
        runtime.run()
        self.show_counts("after")

        self.rule("avdimage hostpools")
        view = estate(runtime.deps)
        for line in lines(view):
            self.console.print(f"  {line}")
        page = Path("test-output") / "demo-status.html"
        page.parent.mkdir(exist_ok=True)
        summaries = catalog_view(runtime.deps)
        page.write_text(
            status_html(summaries, {s.name: history(runtime.deps, s.name) for s in summaries}, sim.clock.now(), view),
            encoding="utf-8",
        )
        self.console.print(f"  status page with the host pool section: {page}")


def chapter(console: Console, records: RecordStore | None, catalog: Catalog) -> bool:
    """Run the chapter; True when every rollout ended succeeded."""
    story = Chapter(console, records, catalog)
    story.run()
    rollouts = story.runtime.deps.rollouts
    if rollouts is None:
        return False
    last = [rollouts.runs("office", p.key)[-1] for p in (story.auto, story.manual)]
    return all(r.state.value == "succeeded" for r in last)

"""The demo's host pool chapter: two pools of office session hosts, one `auto` and one `manual`, in the
same estate as the rest of the demo (so `avdimage --demo hostpools` and `make ui` show them).

The admin's session hosts run office's production version; a patch version reaches production;
the auto pool waits for its Saturday-night maintenance window and is re-imaged in batches (drain,
message users, wait, sign off the rest, recreate from the version, register, undrain). One host's
agent fails: the rollout halts with the pool serving, the admin resumes it, and then rolls the
manual pool on request. The catalog with the two pools is kept beside the demo's state.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path

from rich.console import Console

from localrun.hostpools import deploy_pool, host_versions, image_id, pool_id, to_production, with_pools
from localrun.runtime import LocalRuntime
from shared.domain.commands import Envelope, StartBuild, StartRollout
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason
from shared.hostpools_view import estate, lines
from shared.render import status_html
from shared.views import catalog_view, history

POOLS_RG = "rg-avd-office-hosts"
WINDOW = {"days": ["sat"], "start": "22:00", "duration_minutes": 300, "time_zone": "Europe/Amsterdam"}
CATALOG_DIR = "catalog"  # under the demo's state folder: the catalog the estate was made with


def pools() -> tuple[HostPoolPolicy, HostPoolPolicy]:
    auto = HostPoolPolicy.model_validate(
        {
            "id": pool_id(POOLS_RG, "hp-office-pooled"),
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
        {"id": pool_id(POOLS_RG, "hp-office-finance"), "rollout": "manual", "batch_size": 1, "drain_grace_minutes": 60}
    )
    return auto, manual


def pools_toml(policies: tuple[HostPoolPolicy, ...]) -> str:
    """`[[host_pools]]` tables for the policies (JSON strings and arrays are valid TOML values)."""
    out: list[str] = []
    for policy in policies:
        data = policy.model_dump(mode="json", exclude_defaults=True)
        window = data.pop("maintenance_window", None)
        out += ["", "[[host_pools]]", *(f"{key} = {json.dumps(value)}" for key, value in data.items())]
        if window:
            out += ["[host_pools.maintenance_window]", *(f"{k} = {json.dumps(v)}" for k, v in window.items())]
    return "\n".join(out) + "\n"


def save_catalog(source: Path, target: Path, workload: str, policies: tuple[HostPoolPolicy, ...]) -> None:
    """The catalog files with `workload` serving `policies`, for `avdimage --demo` and `make ui`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        if path.stem == workload:
            text += pools_toml(policies)
        (target / path.name).write_text(text, encoding="utf-8")


class Chapter:
    def __init__(self, console: Console, runtime: LocalRuntime) -> None:
        self.console = console
        self.auto, self.manual = pools()
        self.runtime = runtime
        runtime.catalog = runtime.deps.catalog = with_pools(runtime.catalog, "office", self.auto, self.manual)
        runtime._on_delivery = self._watch
        self.seen = 0

    # -- output -----------------------------------------------------------------------------------
    def rule(self, title: str) -> None:
        self.console.rule(f"[bold]{self.runtime.sim.clock.now():%a %Y-%m-%d %H:%M}[/bold]  {title}")

    def counts(self, policy: HostPoolPolicy) -> Counter[str]:
        return host_versions(self.runtime, policy)

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
            detail = event.detail.removeprefix(f"{event.kind} ")  # "batch batch 3" reads "batch 3"
            self.console.print(f"  {when} [cyan]{pool}[/cyan] [bold]{event.kind}[/bold]{host} {detail[:140]}")
            if event.kind == "batch":
                self.show_counts("during", self.auto if pool == self.auto.name else self.manual)

    # -- the story --------------------------------------------------------------------------------
    def production(self) -> str:
        return str(self.runtime.records.get_pointers("office").production)

    def run(self) -> None:
        runtime, sim = self.runtime, self.runtime.sim
        self.console.rule(
            "[bold]Host pools[/bold]: hp-office-pooled (auto, Saturday 22:00 Amsterdam) and hp-office-finance (manual)"
        )
        self.rule(f"the admin's session hosts run office {self.production()} (production)")
        image = image_id(runtime, self.production())
        deploy_pool(runtime, self.auto, image, hosts=8, users=0)
        deploy_pool(runtime, self.manual, image, hosts=3, users=0)
        self.show_counts("before")

        self.rule("an out-of-band patch: office built and promoted to production")
        runtime.submit(
            StartBuild(workload="office", run_id="patch-oob", reason=BuildReason.PATCH, requested_by="euc-admin")
        )
        runtime.run(until=sim.clock.now() + timedelta(hours=6))
        patch = max(runtime.records.list_versions("office"), key=lambda v: v.version).version
        to_production(runtime, str(patch), ticket=f"CHG-office-{patch}", reason="pilot ring signed off")
        self.console.print(f"  office {patch} is production; hp-office-pooled waits for its window")
        self.show_counts("before")

        window = self.auto.maintenance_window
        assert window is not None
        opening = window.next_opening(sim.clock.now() + timedelta(minutes=1)).astimezone(UTC)
        runtime.run_until(opening - timedelta(minutes=5))
        self.rule("Saturday night: users still signed in when the maintenance window opens")
        for host in sim.desktop.list_hosts(self.auto.resource_group, self.auto.name):
            sim.desktop.add_sessions(self.auto.resource_group, self.auto.name, host.name, 3)
        sim.faults.lro_fails(
            "Microsoft.Compute/virtualMachines/extensions/write",
            "VMExtensionProvisioningError",
            "DSC configuration 'AddSessionHost' failed: the domain join timed out",
        )
        self.console.print("  (one host's AVD agent install will fail)")
        runtime.run(until=opening + timedelta(hours=4))
        self.show_counts("halted")

        self.rule("the admin fixed the domain join and resumes: avdimage rollout hp-office-pooled")
        halted = runtime.deps.rollouts.runs("office", self.auto.key)[-1] if runtime.deps.rollouts else None
        if halted is not None:
            runtime.submit(
                StartRollout(
                    workload="office",
                    pool=self.auto.name,
                    run_id=halted.run_id,
                    version=str(patch),
                    requested_by="euc-admin@contoso.com",
                    requested_at=sim.clock.now(),
                )
            )
        runtime.run(until=opening + timedelta(hours=10))
        self.show_counts("after")

        sim.clock.advance_to(opening + timedelta(days=1, hours=15))  # Monday, midday
        self.rule("Monday: finance asks for the update: avdimage rollout hp-office-finance")
        runtime.submit(
            StartRollout(
                workload="office",
                pool=self.manual.name,
                run_id="manual-finance-1",
                version=str(patch),
                requested_by="euc-admin@contoso.com",
                requested_at=sim.clock.now(),
            )
        )
        runtime.run(until=sim.clock.now() + timedelta(hours=6))
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


def chapter(console: Console, runtime: LocalRuntime, catalog_source: Path, state: Path | None) -> bool:
    """Run the chapter in the demo's estate; True when every rollout ended succeeded.

    With a state folder the catalog with the two pools is kept there, for `avdimage --demo` and `make ui`.
    """
    story = Chapter(console, runtime)
    story.run()
    runtime._on_delivery = None
    if state is not None:
        save_catalog(catalog_source, state / CATALOG_DIR, "office", (story.auto, story.manual))
    rollouts = runtime.deps.rollouts
    if rollouts is None:
        return False
    last = [rollouts.runs("office", p.key)[-1] for p in (story.auto, story.manual)]
    return all(r.state.value == "succeeded" for r in last)

"""The lifecycle sections of docs/benchmarks.md: reference chains, critical-path ratio, the sweep,
ARM requests and Table round trips. Every verdict and explanation is computed from the run's figures.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from benchmarks import reference
from benchmarks.common import DR_PHASE, FIRST_LIFECYCLE, PATCH_LIFECYCLE, PREPARE_PHASE, ROLLBACK_PHASE, packer_chain
from benchmarks.lifecycle import EVENT_LATENCY, Lifecycle, PhaseResult, SweepPoint, simulator_knobs, summarize
from benchmarks.reference import Op, source_ships_encrypted
from benchmarks.targets import number, para, verdict
from shared.domain.commands import StartBuild
from shared.steps.prepare import prepare_month
from shared.steps.schedule import SCHEDULER

# ARM limits assumed (per subscription; see the section for the caveats).
OLD_READS_PER_HOUR = 12_000
OLD_WRITES_PER_HOUR = 1_200
BUCKET_READS = (250, 25)  # capacity, refill per second (per subscription and region)
BUCKET_WRITES = (200, 10)

# Product run steps that do the work of a reference-chain step; the others have no counterpart.
COUNTERPART = {
    "source-vm": "create",
    "customize": "customize",
    "source-decrypted": "bitlocker",
    "snapshot": "clone",
    "disk": "clone",
    "temp-vm": "clone",
    "sysprep": "sysprep",
    "deallocate": "capture",
    "capture": "capture",
    "replicate": "replicate",
}


def _chain_table(ops: list[Op]) -> list[str]:
    lines = ["| step | operation | seconds |", "|---|---|---:|"]
    lines += [f"| {o.step} | {o.what} | {o.seconds:,.0f} |" for o in ops]
    lines.append(f"| | **total** | **{sum(o.seconds for o in ops):,.0f}** |")
    return [*lines, ""]


def _seconds(ops: list[Op], step: str | None = None) -> float:
    return sum(o.seconds for o in ops if step is None or o.step == step)


def build_steps(run: Lifecycle, index: int) -> tuple[list[tuple[str, float]], float, float]:
    """One build's `Run.step_times`, the second it served test and the validation after it."""
    result = run.builds()[index]
    command = result.phase.command
    assert isinstance(command, StartBuild)
    record = run.runtime.records.find_run(command.workload, command.run_id)
    assert record is not None
    after = (result.phase.end - result.phase.start).total_seconds() - result.actual
    return list(record.step_times.items()), result.actual, after


def chains_section(run: Lifecycle, figures: dict[str, float]) -> list[str]:
    builds = run.builds()
    patch = builds[-1]
    command = patch.phase.command
    assert isinstance(command, StartBuild)
    workload = run.runtime.catalog.get(command.workload)
    d = run.runtime.sim.durations
    packer = packer_chain(run.runtime, patch.phase)
    # A tool that kept no source VM: the same chain, one VM create instead of the disk copy and clone.
    lower = _seconds(patch.ops) - _seconds(patch.ops, "clone") + d["vm_create"]
    lines = ["## 1. Reference chains: what any tool must wait for", ""]
    lines += para(
        "Fixed lists of operations priced from the duration table the simulator used in this run "
        "(`runtime.sim.durations`; benchmarks/reference.py). What they contain comes from the workload's "
        "catalog entry (its customizations, source image and stages) and from the simulated world (the "
        "month's cumulative update, the guest's script costs), never from what the product did, so an "
        "operation the product adds (a validation VM, an inventory, a late re-check) can only raise its "
        f"ratio. Workload `{workload.name}`; its source image boots "
        + ("BitLocker-encrypted" if source_ships_encrypted(workload) else "decrypted")
        + " (simulator marketplace catalog and the workload's security type). The result a build must "
        "deliver includes the workload's source VM, kept as the authoritative updated copy (sysprep never "
        "runs on it), so every build's chain copies its OS disk and creates the VM that sysprep consumes."
    )
    prepares = [p for p in run.prepares() if p.phase.start < patch.phase.start]
    prepared = prepares[-1] if prepares else None
    titled = [(builds[0], "first build")]
    if prepared is not None:
        titled.append((prepared, "prepare run (the source VM takes the month's updates; no image)"))
    for result, title in [*titled, (patch, "patch build")]:
        lines += [f"**Reference {title}** (`{result.phase.label}`):", "", *_chain_table(result.ops)]
    lines += [
        "**Packer-style build** (a fresh VM from the latest marketplace image every build, "
        "decryption beside the customizations):",
        "",
        *_chain_table(packer),
    ]
    steps, serves, after = build_steps(run, -1)
    starts: dict[str, float] = {}
    clock = 0.0
    for step, seconds in steps:
        starts[step], clock = clock, clock + seconds
    later = {step for step, start in starts.items() if start >= serves - 1}  # began once it served test
    extra = [(s, t) for s, t in steps if s not in COUNTERPART and s not in later and t > 0]
    lines += [
        "**The product's patch build** (Event Grid on; `Run.step_times`, virtual seconds):",
        "",
        "| step | seconds | reference counterpart |",
        "|---|---:|---|",
        *[
            f"| {s} | {t:,.1f} | {COUNTERPART.get(s, '-')}{' (after it served test)' if s in later else ''} |"
            for s, t in steps
        ],
        "",
    ]
    lines += para(
        f"The version served test {serves:,.0f} s after the build was asked for; its validation in test "
        f"(a VM from the version, checked, removed) and the temp resources' removal went on for "
        f"{after:,.0f} s after that, beside the approvals: validation gates the promotion to validation, "
        "not the version's use in test. Steps before that with no counterpart on the chain: "
        + (", ".join(f"{s} {t:,.0f} s" for s, t in sorted(extra, key=lambda x: -x[1])) or "none")
        + "."
    )
    if prepared is not None:
        lines += prepare_lines(run, prepared, patch)
    ours_custom = _seconds(patch.ops, "customize")
    fresh = reference.fresh_source(workload, patch.phase.start)
    packer_custom = _seconds(reference.customizations(d, workload, fresh, patch.phase.start))
    packer_decrypt = max(0.0, _seconds(packer, "bitlocker") - packer_custom)
    update = _cumulative_update(patch.ops)
    if update:
        why = (
            f" (the source VM still had to install {update}, which the latest marketplace image already carries)"
            if ours_custom > packer_custom
            else ""
        )
    elif prepared is not None and _cumulative_update(prepared.ops):
        why = (
            f" (the source VM took the month's cumulative update, {_cumulative_update(prepared.ops)}, in the "
            f"prepare run {_days(prepared, patch)} before, as Microsoft patches the marketplace image before "
            "publishing it, so the build's Windows Update search finds nothing new)"
        )
    else:
        why = " (the source VM had the month's cumulative update when the build started)"
    lines += para(
        f"Patch build {number(figures['patch_build_s'])} s against the Packer-style chain's "
        f"{number(figures['packer_chain_s'])} s: {verdict('patch_build_s', figures)}. Chain against chain: "
        f"the patch build's customizations take {ours_custom:,.0f} s on the kept source VM and "
        f"{packer_custom:,.0f} s on a fresh marketplace VM"
        + why
        + f"; the Packer-style chain's decryption adds {packer_decrypt:,.0f} s beyond its customizations, "
        f"and the kept source VM's disk copy and clone add {_seconds(patch.ops, 'clone'):,.0f} s. A chain "
        f"that kept no source VM (one VM, already decrypted: {lower:,.0f} s) is a lower bound no "
        "tool reaches for this result; against it the patch build's ratio would be "
        f"{patch.actual / max(1.0, lower):.3f}."
    )
    return lines


def _cumulative_update(ops: list[Op]) -> str:
    """The KB of the cumulative update a chain installs ('' when it installs none)."""
    return next((o.what.rsplit(" + ", 1)[1] for o in ops if " + KB" in o.what), "")


def _days(earlier: PhaseResult, later: PhaseResult) -> str:
    days = (later.phase.start - earlier.phase.start).total_seconds() / 86_400
    return f"{days:.1f} days"


def prepare_lines(run: Lifecycle, prepared: PhaseResult, patch: PhaseResult) -> list[str]:
    """The prepare run, its own line: what it cost, when, and why that is not the build's time."""
    command = prepared.phase.command
    assert isinstance(command, StartBuild)
    workload = run.runtime.catalog.get(command.workload)
    _, released = prepare_month(prepared.phase.start, workload.schedule.prepare_offset_days)
    after = (prepared.phase.start - released).total_seconds() / 3600
    who = "the scheduler" if command.requested_by == SCHEDULER else command.requested_by
    return para(
        f"**The prepare run** (`{prepared.phase.label}`, asked for by {who} on "
        f"{prepared.phase.start:%Y-%m-%d %H:%M} UTC, {after:.0f} h after the month's prepare opened at "
        f"{released:%Y-%m-%d %H:%M} UTC: Patch Tuesday's release + {workload.schedule.prepare_offset_days} "
        f"days): {prepared.actual:,.0f} s of virtual time against its reference {prepared.reference:,.0f} s, "
        f"{_days(prepared, patch)} before the patch build was asked for, so off the build's critical path. "
        "It runs the workload's customizations on the source VM (Windows Update first) and captures no "
        "image; an update that fails, fails there, days before the build window. The patch build's "
        "reference starts from what the source VM's simulated guest had installed when the build was asked "
        "for (read from the simulator, not from the product's records)."
    )


def ratio_section(on: Lifecycle, off: Lifecycle) -> list[str]:
    lines = ["## 2. Critical-path ratio at the table's durations", ""]
    lines += para(
        "Scenario: `localrun.scenario.full_lifecycle` on `data-analyst`: first build -> validation -> "
        "production -> dr, the month's prepare run (section 1), patch build -> validation -> production, "
        "rollback; approvals are submitted "
        "the moment the previous phase is idle. A phase's *actual* time runs from the command to the last "
        "state change it caused (the Probe's commit times); a build's ends at the commit that moved the "
        "test pointer to its version (its validation continues, see section 1); its *reference* is the "
        "chain of section 1 for "
        "a build, one replication for a promotion that adds a region or a replica count, nothing "
        "otherwise. Ratio = sum of actual / sum of reference. Events are delivered at once here; "
        "section 3 adds delivery latency and other durations."
    )
    lines += [
        "| phase | actual, EG on | actual, EG off | reference | ARM reads / writes |",
        "|---|---:|---:|---:|---:|",
    ]
    for p_on, p_off in zip(on.phases, off.phases, strict=True):
        req = p_on.requests
        lines.append(
            f"| {p_on.phase.label} | {p_on.actual:,.0f} | {p_off.actual:,.0f} | {p_on.reference:,.0f} "
            f"| {req['reads']} / {req['writes']} |"
        )
    total = sum(p.reference for p in on.phases)
    lines += [
        f"| **whole lifecycle** | **{sum(p.actual for p in on.phases):,.0f}** "
        f"| **{sum(p.actual for p in off.phases):,.0f}** | **{total:,.0f}** | |",
        f"| **ratio** | **{on.ratio:.4f}** | **{off.ratio:.4f}** | 1 | |",
        "",
    ]
    worst = max(on.phases, key=lambda p: p.actual - p.reference)
    lines += para(
        f"The largest excess over the reference is `{worst.phase.label}`: {worst.actual:,.0f} s against "
        f"{worst.reference:,.0f} s (+{worst.actual - worst.reference:,.0f} s). Event Grid saves "
        f"{sum(p.actual for p in off.phases) - sum(p.actual for p in on.phases):,.0f} s of virtual time "
        "over this lifecycle."
    )
    return lines


def sweep_section(points: list[SweepPoint], figures: dict[str, float]) -> list[str]:
    eg, no_eg = summarize(points, True), summarize(points, False)
    knobs = simulator_knobs()
    seeds = sorted({p.seed for p in points if p.seed is not None})
    lines = ["## 3. Perturbation sweep: durations x0.5-x2.0", ""]
    how = (
        "Each run multiplies the whole duration table by the factor (`Simulator(durations=...)`), runs the "
        "lifecycle of section 2, and divides by the reference chains priced from that same scaled table, "
        "so a wait tuned to one duration shows up as a higher ratio at the other factors. "
    )
    if knobs:
        how += (
            f"Seeds {', '.join(map(str, seeds))}: each seed draws the simulator's per-operation duration "
            f"variance and, with Event Grid on, a delivery latency of {EVENT_LATENCY[0]:.0f}-"
            f"{EVENT_LATENCY[1]:.0f} s per event. With variance each chain is priced at what that run's Azure "
            "drew for each kind of operation during the phase (the mean of its draws; the table times the "
            f"variance's mean factor {reference.mean_variance_factor():.3f} for a kind not drawn; the guest's "
            "own work - BitLocker decryption, sysprep, Windows Update, app installs - at the table's value, "
            "as the simulated guest does not vary it), so only the "
            "product's waiting moves the ratio; the number of operations still comes from the chain."
        )
    else:
        how += (
            "This simulator build has no seed or Event Grid latency knobs (`Simulator(seed=..., "
            "event_latency=...)`, branch i11-sim-strict), so every seed would replay the same run: each "
            "factor ran once and events were delivered at once. Re-run `make bench` once those knobs "
            "are in main to sweep seeds with latency."
        )
    lines += para(how)
    lines += [
        "| factor | seed | ratio, EG on | ratio, EG off | patch build (s) | Packer-style (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    keyed = {(p.factor, p.seed, p.event_grid): p for p in points}
    for factor, seed in sorted({(p.factor, p.seed) for p in points}, key=lambda k: (k[0], k[1] or 0)):
        a, b = keyed[(factor, seed, True)], keyed[(factor, seed, False)]
        lines.append(
            f"| x{factor:g} | {seed if seed is not None else '-'} | {a.ratio:.4f} | {b.ratio:.4f} "
            f"| {a.patch_build_s:,.0f} | {a.packer_chain_s:,.0f} |"
        )
    lines += [
        "",
        "| | worst | median | best | runs |",
        "|---|---:|---:|---:|---:|",
        f"| ratio, Event Grid on | {eg['worst']:.4f} | {eg['median']:.4f} | {eg['best']:.4f} | {eg['runs']:.0f} |",
        f"| ratio, Event Grid off | {no_eg['worst']:.4f} | {no_eg['median']:.4f} | {no_eg['best']:.4f} "
        f"| {no_eg['runs']:.0f} |",
        "",
    ]
    worst_on = max((p for p in points if p.event_grid), key=lambda p: p.ratio)
    worst_off = max((p for p in points if not p.event_grid), key=lambda p: p.ratio)
    spread_on = eg["worst"] - eg["best"]
    lines += para(
        f"Event Grid on: worst at x{worst_on.factor:g} ({verdict('ratio_eg_worst', figures)}); "
        f"Event Grid off: worst at x{worst_off.factor:g} ({verdict('ratio_no_eg_worst', figures)}). "
        f"Across the factors the Event Grid ratio moves by {spread_on:.4f}"
        + (
            " - the product's waits follow the durations; the level of the ratio is the work the product "
            "does that the reference chain does not (section 1)."
            if spread_on < 0.05
            else " - the waits do not follow the durations."
        )
    )
    return lines


def _window_peak(times: list[Any]) -> int:
    """The most requests within any one second of virtual time."""
    ordered = sorted(times)
    peak, low = 0, 0
    for high, at in enumerate(ordered):
        while at - ordered[low] >= timedelta(seconds=1):
            low += 1
        peak = max(peak, high - low + 1)
    return peak


def arm_section(run: Lifecycle, figures: dict[str, float]) -> list[str]:
    phases = run.phases

    def total(chosen: list[Any]) -> dict[str, int]:
        reads = sum(p.requests["reads"] for p in chosen)
        writes = sum(p.requests["writes"] for p in chosen)
        return {"reads": reads, "writes": writes, "total": reads + writes}

    first, patch = total(phases[FIRST_LIFECYCLE]), total(phases[PATCH_LIFECYCLE])
    dr, rollback = total([phases[DR_PHASE]]), total([phases[ROLLBACK_PHASE]])
    prepare = total([phases[PREPARE_PHASE]])
    log = run.runtime.sim.request_log
    first_log = log[: phases[FIRST_LIFECYCLE][-1].phase.end_request_index]
    read_peak = _window_peak([e.time for e in log if e.is_read])
    write_peak = _window_peak([e.time for e in log if not e.is_read])
    lines = ["## 4. ARM requests per lifecycle", ""]
    lines += para(
        "A lifecycle = build -> validation -> production (the approvals' work included); every request "
        "the app sent to the simulator (`runtime.sim.request_log`; reads = GET, LRO polls included)."
    )
    lines += [
        "| lifecycle | reads | writes | total | target |",
        "|---|---:|---:|---:|---|",
        f"| first lifecycle of a workload | {first['reads']} | {first['writes']} | {first['total']} "
        f"| {verdict('arm_requests_first', figures)} |",
        f"| prepare run, days before the patch lifecycle (source VM only) | {prepare['reads']} "
        f"| {prepare['writes']} | {prepare['total']} | |",
        f"| patch lifecycle | {patch['reads']} | {patch['writes']} | {patch['total']} | |",
        f"| promotion to dr | {dr['reads']} | {dr['writes']} | {dr['total']} | |",
        f"| rollback | {rollback['reads']} | {rollback['writes']} | {rollback['total']} | |",
        "",
        "Busiest actions in the first lifecycle:",
        "",
        "| ARM action | requests |",
        "|---|---:|",
        *[f"| `{a}` | {n} |" for a, n in Counter(e.action for e in first_log).most_common(8)],
        "",
    ]
    by_message = run.probe.reads_by_message([p.phase for p in phases[FIRST_LIFECYCLE]])
    lines += para(
        "Reads of the first lifecycle by the message (step) that made them, busiest first; a step's "
        'looks before its operation ended decided nothing but "not yet" (shared/steps/waits.py):'
    )
    lines += [
        "| message | reads |",
        "|---|---:|",
        *[f"| `{m}` | {n} |" for m, n in by_message.most_common(8)],
        "",
    ]
    old = min(OLD_READS_PER_HOUR / max(1, patch["reads"]), OLD_WRITES_PER_HOUR / max(1, patch["writes"]))
    bucket = min(BUCKET_READS[1] * 3600 / max(1, patch["reads"]), BUCKET_WRITES[1] * 3600 / max(1, patch["writes"]))
    fits = read_peak <= BUCKET_READS[0] and write_peak <= BUCKET_WRITES[0]
    lines += para(
        f"Against ARM's subscription limits (assumed): the older hourly model ({OLD_READS_PER_HOUR:,} reads, "
        f"{OLD_WRITES_PER_HOUR:,} writes per hour) allows {old:,.0f} patch lifecycles per hour; the "
        f"token-bucket model (reads {BUCKET_READS[0]} refilled at {BUCKET_READS[1]}/s, writes "
        f"{BUCKET_WRITES[0]} at {BUCKET_WRITES[1]}/s) allows {bucket:,.0f} sustained. Measured bursts of "
        f"this lifecycle: at most {read_peak} reads and {write_peak} writes within one second of virtual "
        "time, "
        + ("within" if fits else "over")
        + f" the buckets' capacities ({BUCKET_READS[0]} / {BUCKET_WRITES[0]}) for a lifecycle alone; many "
        "lifecycles at once are measured in section 8 (its 429 column)."
    )
    return lines


def trips_section(on: Lifecycle, off: Lifecycle, figures: dict[str, float]) -> list[str]:
    a, b = on.probe.transition_stats(), off.probe.transition_stats()
    lines = ["## 5. Table round trips per state transition", ""]
    lines += para(
        "A state transition = one `commit` (one single-partition transaction: state + audit); round trips "
        "= every point read, query and transaction the store served, counted per handler invocation by "
        "the Probe. *All invocations* divides every round trip (no-op invocations such as stale events "
        "and duplicates included) by the transitions; *committing* only those of invocations that changed "
        "something."
    )
    rows = [
        ("handler invocations", "invocations", "{:.0f}"),
        ("state transitions (commits)", "transitions", "{:.0f}"),
        ("round trips, total", "round_trips", "{:.0f}"),
        ("**round trips per transition, all invocations**", "per_transition_all", "{:.2f}"),
        ("round trips per transition, committing invocations", "per_transition_committing", "{:.2f}"),
        ("worst committing invocation (round trips per commit)", "max_per_committing_invocation", "{:.1f}"),
        ("invocations that changed nothing", "noop_invocations", "{:.0f}"),
        ("their round trips", "noop_round_trips", "{:.0f}"),
    ]
    lines += ["| | Event Grid on | Event Grid off |", "|---|---:|---:|"]
    lines += [f"| {label} | {fmt.format(a[key])} | {fmt.format(b[key])} |" for label, key, fmt in rows]
    lines += [""]
    by_kind = on.probe.by_step()
    costly = sorted(((t / c, n) for n, (_, c, t) in by_kind.items() if c), reverse=True)[:3]
    lines += para(
        f"All invocations: {verdict('table_trips_all', figures)}. Committing invocations: "
        f"{figures['table_trips_committing']:.2f}. The {a['noop_invocations']:.0f} invocations that changed "
        f"nothing spent {a['noop_round_trips']:.0f} of {a['round_trips']:.0f} round trips "
        f"({a['noop_round_trips'] / max(1, a['round_trips']):.0%}). Costliest messages per commit "
        "(their no-op deliveries included): " + ", ".join(f"`{n}` {per:.1f}" for per, n in costly) + "."
    )
    idle = [i for i in on.probe.invocations if not i.commits]
    unread = sum(1 for i in idle if not i.round_trips)
    lines += para(
        f"{unread} of the {len(idle)} invocations that changed nothing read no record: events about resources "
        "nobody waits for, and stale messages or events decided from what this instance committed last (the "
        "store remembers its own commits; run and version positions only grow). This benchmark runs one "
        "instance, so every such hint is current; in Azure a message about a record another instance "
        "committed is read as before (one round trip)."
    )
    lines += [
        "By message (Event Grid on; message id without workload and attempt):",
        "",
        "| message | invocations | commits | round trips | per commit |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (count, commits, trips) in sorted(by_kind.items(), key=lambda kv: -kv[1][2]):
        per = f"{trips / commits:.1f}" if commits else "-"
        lines.append(f"| `{name}` | {count} | {commits} | {trips} | {per} |")
    return [*lines, ""]

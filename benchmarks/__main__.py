"""`python -m benchmarks`: measure, then write docs/benchmarks.md and docs/benchmarks.json.

Sections: reference chains (and a Packer-style build), critical-path ratio, the perturbation
sweep, ARM requests, Table round trips, the cold path, scale in Azurite (needs
AVD_TABLES_CONNECTION_STRING; `make bench` starts Azurite) with ARM reads per sweep, and
concurrent lifecycles (child processes, for their own CPU time and peak memory). Every verdict is
computed from this run's figures (benchmarks/targets.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from benchmarks import coldpath, report, rollout, scale
from benchmarks.common import DOCS, FIRST_LIFECYCLE, PATCH_LIFECYCLE, ROOT, repo_catalog
from benchmarks.lifecycle import FACTORS, SEEDS, measure_lifecycle, summarize, sweep
from benchmarks.store import IndexedMemoryRecordStore
from benchmarks.targets import JSON_KEYS, TARGETS, met, number, para, verdict

CONCURRENT = (50, 200, 500)
SWEEP_WORKLOADS = (50, 500, 5000)
WALL_TARGET = 60.0
RATIO_TARGET = 1.02  # the host pool rollout's critical-path ratio (benchmarks/rollout.py)
MEMORY_TARGET_MIB = 1024.0


# -- cold path --------------------------------------------------------------------------------------------


def cold_section(cold: dict[str, Any], heavy: list[tuple[str, float]], figures: dict[str, float]) -> list[str]:
    lines = ["## 6. Cold path: imports of indexing and of a first invocation", ""]
    lines += para(
        f"Fresh interpreters, paired and interleaved, {cold['runs']} runs each; time measured inside the "
        "process from before the first import (interpreter start-up excluded). *base*: `import "
        "azure.functions`; *index*: `import function_app` (the host indexing the functions); *first*: "
        "that plus the first invocation of `arm_events` (an event for a resource the app does not own)."
    )
    lines += [
        "| sample | min (ms) | median (ms) | ratio to base, min | ratio to base, median |",
        "|---|---:|---:|---:|---:|",
        f"| base | {cold['base_min'] * 1000:.0f} | {cold['base_median'] * 1000:.0f} | 1 | 1 |",
    ]
    for kind in ("index", "first"):
        lines.append(
            f"| {kind} | {cold[f'{kind}_min'] * 1000:.0f} | {cold[f'{kind}_median'] * 1000:.0f} "
            f"| {cold[f'{kind}_ratio_min']:.2f} | {cold[f'{kind}_ratio_median']:.2f} |"
        )
    lines += ["", "Heaviest top-level imports of one *first* sample (`python -X importtime`, cumulative):", ""]
    lines += ["| module | ms |", "|---|---:|", *[f"| `{name}` | {ms:.0f} |" for name, ms in heavy], ""]
    lines += para(f"First-invocation import ratio (medians): {verdict('first_invocation_import_ratio', figures)}.")
    return lines


# -- scale and concurrency ----------------------------------------------------------------------------------


def scale_section(result: dict[str, Any] | None, sweeps: list[dict[str, Any]], reason: str) -> list[str]:
    lines = ["## 7. Scale", ""]
    if result is None:
        lines += para(f"Table Storage at scale not measured in this run: {reason}")
    else:
        per_listing = result["listing_round_trips"] / result["workloads"]
        per_sweep = result["sweep_round_trips"] / result["workloads"]
        lines += para(
            f"{result['workloads']} workloads cloned from catalog/office.toml, {result['versions_per_workload']} "
            f"versions each (every status), written with `TableRecordStore.commit` to Azurite, one transaction "
            f"per workload from {result['write_threads']} threads: {result['entities']:,} entities in "
            f"{result['write_seconds']:.1f} s. Reads go through the product's own code."
        )
        lines += [
            "| operation | time (s) | Table queries | per workload | ARM requests |",
            "|---|---:|---:|---:|---:|",
            f"| catalog listing (`catalog_view`, {result['listed_versions']:,} versions) "
            f"| {result['listing_seconds']:.2f} | {result['listing_round_trips']} | {per_listing:.2f} | 0 |",
            f"| retention decisions (`plan_prune`, the sweep's inventory share) | {result['sweep_seconds']:.2f} "
            f"| {result['sweep_round_trips']} | {per_sweep:.2f} | {result['sweep_arm_requests']} |",
            "",
            f"Decisions: {', '.join(f'{k} {v:,}' for k, v in sorted(result['decisions'].items()))}.",
            "",
        ]
        lines += para(
            f"Table queries per workload: listing {per_listing:.2f}, retention {per_sweep:.2f} "
            "(one partition query each would be 1.00). Azurite on loopback has no network latency; against "
            "Azure Table Storage expect ~5-20 ms per query from a Function in the same region."
        )
    lines += [
        "**ARM requests of one hourly sweep** (the timer entry point, then every workload's `Prune` and "
        "the sweep's reconcile slice through the bus; workloads without versions to retire, so only the "
        "sweep's own listings count):",
        "",
        "| workloads | ARM reads | of them reconcile listings | writes | throttled (429) "
        "| sweeps to reconcile all | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {s['workloads']:,} | {s['reads']} | {s['gallery_reads']} | {s['writes']} | {s['throttled']} "
            f"| {s['coverage_sweeps']:,} | {s['seconds']:.1f} |"
            for s in sweeps
        ],
        "",
    ]
    grows = sweeps[-1]["reads"] > sweeps[0]["reads"]
    lines += para(
        "Reads per sweep "
        + ("grow" if grows else "do not grow")
        + f" with the workload count ({', '.join(sweeps[0]['actions'])})."
    )
    lines += para(
        f"Each sweep reconciles a rotating slice of {sweeps[0]['slice']} workloads (`AVD_RECONCILE_PER_SWEEP`; "
        "shared/steps/reconcile_slice.py): every workload gets a backstop pass within the number of sweeps in "
        f"the table, {sweeps[-1]['coverage_sweeps']:,} hourly sweeps at {sweeps[-1]['workloads']:,} workloads "
        f"(~{sweeps[-1]['coverage_sweeps'] / 24:.0f} days). Pointer moves and gallery delete events reconcile "
        "their workload at once, whatever the slice."
    )
    return lines


def concurrency(count: int) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.concurrency", str(count)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def concurrency_section(results: list[dict[str, Any]]) -> list[str]:
    lines = ["## 8. Concurrent lifecycles", ""]
    lines += para(
        "N workloads (cloned from office.toml): N `StartBuild` at once into one `LocalRuntime`, "
        "`runtime.run()`, then N promotions to validation, then N to production. The record store is "
        "`IndexedMemoryRecordStore` (benchmarks/store.py: Table Storage's contract with a sorted key index "
        "per partition, so a range query is two bisections, not a sort of every row). Each N in its own "
        f"child process limited to CPUs {results[0]['cpus']}; CPU time by `time.process_time` (user + "
        "system of that process), wall by `time.perf_counter`, peak memory by `ru_maxrss`."
    )
    lines += [
        "| lifecycles | CPU (s) | CPU per lifecycle (s) | wall (s) | peak RSS (MiB) | in production "
        "| dead letters / failed / leaked | ARM reads / writes (429) |",
        "|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['lifecycles']} | {r['cpu_seconds']:.1f} | {r['cpu_seconds_per_lifecycle']:.3f} "
            f"| {r['wall_seconds']:.1f} | {r['peak_rss_mib']:.0f} | {r['in_production']} of {r['lifecycles']} "
            f"| {r['dead_letters']} / {r['failed_versions']} / {r['leaked']} "
            f"| {r['arm_reads']:,} / {r['arm_writes']:,} ({r['arm_429']}) |"
        )
    lines.append("")
    per = [r["cpu_seconds_per_lifecycle"] for r in results]
    growth = per[-1] / max(1e-9, per[0])
    slowest = max(results, key=lambda r: r["wall_seconds"])
    heaviest = max(results, key=lambda r: r["peak_rss_mib"])
    lines += para(
        f"CPU per lifecycle goes from {per[0]:.3f} s at {results[0]['lifecycles']} to {per[-1]:.3f} s at "
        f"{results[-1]['lifecycles']} (x{growth:.2f}"
        + ("; flat within 20%" if growth < 1.2 else "; it grows with the count")
        + "). The store's own share of the CPU time: "
        + ", ".join(f"{r['store_cpu_seconds'] / max(1e-9, r['cpu_seconds']):.0%} at {r['lifecycles']}" for r in results)
        + f". Slowest wall time {slowest['wall_seconds']:.1f} s at {slowest['lifecycles']} "
        + ("(under" if slowest["wall_seconds"] < WALL_TARGET else "(over")
        + f" {WALL_TARGET:.0f} s); largest peak RSS {heaviest['peak_rss_mib']:.0f} MiB "
        + ("(under" if heaviest["peak_rss_mib"] < MEMORY_TARGET_MIB else "(over")
        + " 1 GiB)."
    )
    return lines


# -- main ----------------------------------------------------------------------------------------------------


def headline(figures: dict[str, float]) -> list[str]:
    labels = {
        "ratio_eg_worst": "critical-path ratio, Event Grid on, worst of the sweep",
        "ratio_eg_median": "critical-path ratio, Event Grid on, median of the sweep",
        "ratio_no_eg_worst": "critical-path ratio, Event Grid off, worst of the sweep",
        "patch_build_s": "patch build, virtual seconds",
        "packer_chain_s": "Packer-style build, virtual seconds",
        "prepare_run_s": "prepare run days before, off the build's critical path",
        "arm_requests_first": "ARM requests, first lifecycle",
        "arm_requests_patch": "ARM requests, patch lifecycle",
        "table_trips_all": "Table round trips per transition, all invocations",
        "table_trips_committing": "Table round trips per transition, committing",
        "first_invocation_import_ratio": "first-invocation imports / azure.functions",
        "sweep_arm_reads_5000": "ARM reads per sweep, 5,000 workloads",
        "concurrent_200_cpu_s_per_lifecycle": "CPU seconds per lifecycle, 200 at once",
    }
    lines = ["| measure | result | target |", "|---|---:|---|"]
    for key in JSON_KEYS:
        target = verdict(key, figures) if key in TARGETS else ""
        lines.append(f"| {labels[key]} (`{key}`) | {number(figures[key])} | {target} |")
    missed = [key for key in TARGETS if not met(key, figures)]
    lines.append("")
    if missed:
        lines += para(f"Targets missed in this run: {', '.join(f'`{k}`' for k in missed)} (see their sections).")
    else:
        lines += para("Every target is met in this run.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--workloads", type=int, default=500, help="scale: workloads")
    parser.add_argument("--versions", type=int, default=40, help="scale: versions per workload")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--output", default=str(DOCS / "benchmarks.md"))
    parser.add_argument("--json", default=str(DOCS / "benchmarks.json"))
    args = parser.parse_args(argv)

    print("lifecycle at the table's durations (Event Grid on, off) ...", flush=True)
    on = measure_lifecycle(True, records=IndexedMemoryRecordStore())
    off = measure_lifecycle(False, records=IndexedMemoryRecordStore())
    print(f"sweep: factors {FACTORS} x seeds {SEEDS} ...", flush=True)
    points = sweep()
    print("cold path ...", flush=True)
    cold = coldpath.measure(args.cold_runs)
    heavy = coldpath.heaviest()
    connection = os.environ.get("AVD_TABLES_CONNECTION_STRING")
    scaled: dict[str, Any] | None = None
    if connection:
        print(f"scale: {args.workloads} x {args.versions} in Azurite ...", flush=True)
        scaled = scale.run(connection, args.workloads, args.versions)
    print("ARM reads per sweep ...", flush=True)
    sweeps = [scale.sweep_arm_reads(n) for n in SWEEP_WORKLOADS]
    concurrent = []
    for count in CONCURRENT:
        print(f"{count} concurrent lifecycles ...", flush=True)
        concurrent.append(concurrency(count))

    print("host pool rollout ...", flush=True)
    rolled = rollout.measure(repo_catalog())

    eg, no_eg = summarize(points, True), summarize(points, False)
    stats = on.probe.transition_stats()
    figures: dict[str, float] = {
        "ratio_eg_worst": eg["worst"],
        "ratio_eg_median": eg["median"],
        "ratio_no_eg_worst": no_eg["worst"],
        "patch_build_s": on.patch_build_s,
        "packer_chain_s": on.packer_chain_s,
        "prepare_run_s": on.prepare_run_s,
        "arm_requests_first": sum(p.requests["total"] for p in on.phases[FIRST_LIFECYCLE]),
        "arm_requests_patch": sum(p.requests["total"] for p in on.phases[PATCH_LIFECYCLE]),
        "table_trips_all": stats["per_transition_all"],
        "table_trips_committing": stats["per_transition_committing"],
        "first_invocation_import_ratio": cold["first_ratio_median"],
        "sweep_arm_reads_5000": next(s["reads"] for s in sweeps if s["workloads"] == 5000),
        "concurrent_200_cpu_s_per_lifecycle": next(
            r["cpu_seconds_per_lifecycle"] for r in concurrent if r["lifecycles"] == 200
        ),
    }
    lines = [
        "# Benchmarks",
        "",
        *para(
            f"Generated by `make bench` (`python -m benchmarks`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs visible. Azure time is the simulator's "
            "virtual time; wall and CPU times are this machine's. Do not edit by hand: re-run `make bench` "
            "(it also writes docs/benchmarks.json with the figures below)."
        ),
        *headline(figures),
        *para(
            f"Host pool rollout critical-path ratio: {rolled['ratio']:.3f} ("
            + ("met" if rolled["ratio"] <= RATIO_TARGET else "**missed**")
            + f", target <= {RATIO_TARGET}; its own section at the end)."
        ),
        *report.chains_section(on, figures),
        *report.ratio_section(on, off),
        *report.sweep_section(points, figures),
        *report.arm_section(on, figures),
        *report.trips_section(on, off, figures),
        *cold_section(cold, heavy, figures),
        *scale_section(scaled, sweeps, "AVD_TABLES_CONNECTION_STRING is not set (`make bench` starts Azurite)"),
        *concurrency_section(concurrent),
        *rollout.section(rolled),
    ]
    with open(args.output, "w", encoding="utf-8") as out:
        out.write("\n".join(lines).rstrip() + "\n")
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump({key: round(float(figures[key]), 4) for key in JSON_KEYS}, out, indent=2)
        out.write("\n")
    print(f"wrote {args.output} and {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

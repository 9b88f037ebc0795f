"""Run mutmut and write docs/mutation.md from its own results: the score per module, every survivor.

`make mutation` runs mutmut over shared/domain and shared/steps through `run` (one mutmut run per
glob, each logged with its time and counts), then writes the report. A surviving mutant is either
killed by a new test or explained in docs/mutation-equivalent.toml (mutant name -> why no test can
tell it apart); the report lists both, the runs it is built from, and any module not (fully) run,
so no number stands without mutmut's output behind it.

    python scripts/mutation_report.py run "shared.domain.*" "shared.steps.versions.*,shared.steps.waits.*"
    python scripts/mutation_report.py run pending     # only the mutants with no result yet
    python scripts/mutation_report.py
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "mutation.md"
EXPLAINED = ROOT / "docs" / "mutation-equivalent.toml"
RUNS = ROOT / "mutants" / "mutation-runs.jsonl"
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
PACKAGES = ("shared/domain", "shared/steps")
DETECTED = {"killed", "timeout"}
COUNTED = DETECTED | {"survived", "no tests"}
LISTED = 60  # a run selecting more names than this is summarised per module in the report
PENDING = "pending"  # `run pending`: every mutant not checked yet, and only those

# Code behind a safety invariant (docs/invariants.md): a survivor here is never acceptable unexplained.
INVARIANT_CODE = {
    "shared.domain.lifecycle.*": "16 state machine",
    "shared.domain.retention.x_plan*": "9 retention",
    "shared.domain.retention.x__protection*": "9 retention",
    "shared.domain.retention.x_in_use_key*": "9 retention",
    "shared.domain.approvals.x_authorize*": "5 approver per stage",
    "shared.domain.approvals.x_is_requester*": "6 two-person",
    "shared.domain.approvals.x_admit*": "6 two-person / 8 replay",
    "shared.domain.approvals.x_standing*": "6 two-person",
    "shared.domain.approvals.x_check_requested_at*": "8 replay",
    "shared.steps.replication.x_judge*": "2 replication",
    "shared.steps.versions.x__validation_checks*": "4 validation",
    "shared.steps.promotion.x_decide_rollback*": "8 replay / 10 rollback target",
    "shared.steps.promotion.x_rollback*": "10 rollback target",
    "shared.steps.build_image.x__start_version*": "1 hidden from latest",
    "shared.steps.build_image.x__remove_temp_resources*": "12 temp resources",
    "shared.steps.build_image.x_step_abort*": "12 temp resources",
    "shared.steps.versions.x__judge*": "4 validation",
    "shared.steps.dead_letters.*": "14 every run ends",
    "shared.steps.reconcile.x__vanished*": "15 reconcile",
    "shared.steps.reconcile.x__pointers*": "15 reconcile / 10 rollback target",
    "shared.steps.reconcile.x__latest*": "1 hidden from latest / 15 reconcile",
    "shared.steps.reconcile.x__wrong_regions*": "1 hidden from latest / 15 reconcile",
}


def results() -> dict[str, str]:
    """mutant name -> status, as `mutmut results --all true` prints them."""
    out = subprocess.run(  # noqa: S603 - our own venv's mutmut, fixed arguments
        [str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            found[name] = status.strip()
    return found


def module_of(mutant: str) -> str:
    """shared.steps.build_image.x_step_capture__mutmut_3 -> shared.steps.build_image"""
    return mutant.rsplit(".", 1)[0]


def invariant_of(mutant: str) -> str | None:
    return next((why for pattern, why in INVARIANT_CODE.items() if fnmatch.fnmatchcase(mutant, pattern)), None)


def modules_in_scope() -> list[str]:
    """Every module of the mutated packages, so one never run still shows (as not run)."""
    return sorted(
        str(p.relative_to(ROOT).with_suffix("")).replace("/", ".")
        for package in PACKAGES
        for p in (ROOT / package).glob("*.py")
        if p.name != "__init__.py"
    )


def run(globs: list[str], children: int) -> int:
    """One mutmut run per argument (globs joined by ',' share a run), each appended to the run log
    with its time and mutmut's counts."""
    RUNS.parent.mkdir(exist_ok=True)
    for pattern in globs:
        # "pending": no names, so mutmut runs only the mutants that have no result yet
        names = [] if pattern == PENDING else pattern.split(",")
        waiting = {n for n, status in results().items() if status == "not checked"} if not names else set()
        commit_at_start = head_commit()
        started = datetime.now(UTC)
        clock = time.monotonic()
        code = subprocess.run(  # noqa: S603 - our own venv's mutmut, fixed arguments
            [str(MUTMUT), "run", "--max-children", str(children), *names],
            cwd=ROOT,
            check=False,
            # two cores shared by everyone: mutants go last, unless MUTATION_NICE says how much lower
            preexec_fn=lambda: os.nice(int(os.environ.get("MUTATION_NICE", "15"))),
        ).returncode
        seconds = time.monotonic() - clock
        mine = Counter(s for n, s in results().items() if n in waiting or any(fnmatch.fnmatchcase(n, g) for g in names))
        entry = {"glob": pattern, "started": started.isoformat(timespec="seconds"), "seconds": round(seconds)}
        entry["commit"] = commit_at_start
        entry |= {"exit": code, "counts": dict(mine)}
        with RUNS.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        if code != 0:
            print(f"mutation_report: mutmut run {pattern!r} exited {code}", file=sys.stderr)
            return code
    return 0


def head_commit() -> str:
    """The commit mutmut copies into mutants/ (short hash), "+changes" when the tree differs from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # noqa: S603
    dirty = subprocess.run(  # noqa: S603 - fixed arguments
        [*git, "status", "--porcelain", "--", "shared", "tests", "pyproject.toml"],
        capture_output=True,
        text=True,
        check=False,
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _functions(source: str, module: str) -> dict[str, str]:
    """mutmut's name for each function and method of a module -> its source text."""
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[f"{module}.x_{node.name}"] = ast.get_source_segment(source, node) or ""
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{module}.x\u01c1{node.name}\u01c1{item.name}"
                    found[name] = ast.get_source_segment(source, item) or ""
    return found


def changed_since(commit: str) -> list[str]:
    """Functions of the mutated packages whose code differs between `commit` (where the runs were made)
    and the working tree: their mutants' results describe the older code."""
    changed: list[str] = []
    for module in modules_in_scope():
        path = module.replace(".", "/") + ".py"
        show = ["git", "-C", str(ROOT), "show", f"{commit}:{path}"]
        old = subprocess.run(show, capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
        before = _functions(old.stdout, module) if old.returncode == 0 else {}
        now = _functions((ROOT / path).read_text(encoding="utf-8"), module)
        changed += [
            f"`{n}` ({'new' if n not in before else 'changed'})" for n in sorted(now) if before.get(n) != now[n]
        ]
        changed += [f"`{n}` (removed)" for n in sorted(before) if n not in now]
    return changed


def logged_runs() -> list[dict[str, object]]:
    if not RUNS.exists():
        return []
    return [json.loads(line) for line in RUNS.read_text(encoding="utf-8").splitlines() if line.strip()]


def render(found: dict[str, str], explained: dict[str, str], runs: list[dict[str, object]]) -> str:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for module in modules_in_scope():
        by_module[module] = Counter()
    for name, status in found.items():
        by_module[module_of(name)][status] += 1
    total: Counter[str] = Counter()
    rows = []
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        rows.append(_row(module, counts))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    scope = ", ".join(f"`{p}`" for p in config.get("only_mutate", []))
    tests = ", ".join(f"`{t}`" for t in config.get("pytest_add_cli_args_test_selection", []))
    lines = [
        "# Mutation testing",
        "",
        f"Generated by `make mutation` (mutmut; mutated: {scope}; killed by {tests}, see below);",
        "do not edit by hand. Score = (killed + timeout) / counted, where counted = killed + timeout",
        "+ survived + no tests; `not checked` mutants were in no run below and count nowhere.",
        "",
        "Test set: the unit tests only (`pytest_add_cli_args_test_selection`). The end-to-end tests take",
        "11 minutes per pass on the shared two cores and mutmut reruns the covering tests for each of",
        "the ~9 500 mutants, which no run could finish; the unit tests take under a minute. `test_waits`'",
        "source scan and `test_code_shape` (module sizes, imports) are left out under mutmut: in mutants/",
        "the source text holds every mutant and mutmut's trampolines, not the product's code.",
        "A mutant counted `no tests` is covered by no unit test (end-to-end tests may still kill it).",
        "",
        "| module | killed | timeout | survived | no tests | not checked | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        _row("**all**", total),
        "",
        "Not (fully) run, so their score covers only the mutants that were: "
        + (", ".join(f"`{m}`" for m in sorted(by_module) if by_module[m]["not checked"]) or "none")
        + ".",
        "",
        "## Runs this report is built from",
        "",
        "Each is one `mutmut run <glob>` (scripts/mutation_report.py `run`); a later run of a mutant",
        "replaces its earlier result.",
        "",
        "| started (UTC) | commit | glob | minutes | exit | mutmut's counts for the glob |",
        "|---|---|---|---:|---:|---|",
    ]
    selections: list[str] = []
    notes: list[str] = []
    for number, entry in enumerate(runs, 1):
        logged = entry.get("counts") or {}
        shown = ", ".join(f"{k} {v}" for k, v in sorted(logged.items())) if isinstance(logged, dict) else ""
        minutes = int(entry.get("seconds", 0)) / 60  # type: ignore[call-overload]
        globs = str(entry["glob"]).split(",")
        what = f"`{globs[0]}`" if len(globs) == 1 else f"run {number}: {len(globs)} names/globs, listed below"
        commit = entry.get("commit") or "not logged"
        lines.append(f"| {entry['started']} | {commit} | {what} | {minutes:.1f} | {entry['exit']} | {shown} |")
        if entry.get("note"):
            notes.append(f"- {entry['started']}: {entry['note']}")
        if len(globs) > LISTED:  # a re-run of many survivors: how many per module, not every name
            per_module = Counter(module_of(g) for g in globs)
            counts = ", ".join(f"`{m}` {n}" for m, n in sorted(per_module.items()))
            selections += ["", f"Run {number} selected {len(globs)} mutants by name: {counts}."]
        elif len(globs) > 1:
            selections += ["", f"Run {number} selected:", "", *(f"- `{g}`" for g in globs)]
    if not runs:
        lines.append("| - | - | (no logged run) | | | |")
    if notes:
        lines += ["", "Notes on single runs:", "", *notes]
    lines += selections
    commits = [str(e["commit"]).removesuffix("+changes") for e in runs if e.get("commit")]
    if commits:
        changed = changed_since(commits[-1])
        lines += [
            "",
            "## Code changed after the runs",
            "",
            f"Mutated functions whose code differs from the last run's commit ({commits[-1]}): their results",
            "above describe the code as it was then, and the next `make mutation` re-tests them.",
            "",
            *(f"- {name}" for name in changed),
        ]
        if not changed:
            lines.append("None.")
    survivors = sorted(n for n, s in found.items() if s in {"survived", "no tests"})
    unexplained = [n for n in survivors if n not in explained]
    on_invariants = [n for n in unexplained if invariant_of(n)]
    lines += [
        "",
        "## Survivors",
        "",
        f"{len(survivors)} survivors: {len(survivors) - len(unexplained)} explained as equivalent "
        f"(docs/mutation-equivalent.toml), {len(unexplained)} unexplained, "
        f"{len(on_invariants)} unexplained on code behind an invariant (docs/invariants.md).",
        "",
    ]
    for name in survivors:
        why = explained.get(name)
        rule = invariant_of(name)
        mark = f" [invariant {rule}]" if rule else ""
        lines.append(f"- `{name}` ({found[name]}){mark}: " + (f"equivalent - {why}" if why else "**unexplained**"))
    return "\n".join(lines) + "\n"


def _row(module: str, counts: Counter[str]) -> str:
    counted = sum(counts[s] for s in COUNTED)
    detected = sum(counts[s] for s in DETECTED)
    score = f"{100 * detected / counted:.1f}%" if counted else "not run"
    return (
        f"| {module} | {counts['killed']} | {counts['timeout']} | {counts['survived']} | "
        f"{counts['no tests']} | {counts['not checked']} | {score} |"
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        children = int(os.environ.get("MUTATION_CHILDREN", "2"))
        return run(argv[1:] or [",".join(f"{p.replace('/', '.')}.*" for p in PACKAGES)], children)
    found = results()
    if not found:
        print("mutation_report: mutmut has no results; run `make mutation`", file=sys.stderr)
        return 1
    explained = tomllib.loads(EXPLAINED.read_text()) if EXPLAINED.exists() else {}
    REPORT.write_text(render(found, {k: str(v) for k, v in explained.items()}, logged_runs()))
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

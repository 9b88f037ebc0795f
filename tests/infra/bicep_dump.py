"""Parse Bicep files with pycep and print one JSON document: {path: {"error": ..., "tree": ...}}.

Runs under .venv-iac (where pycep lives), never under the app's venv; tests/infra calls it
through subprocess so the app's dependencies and checkov's pins never meet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> int:
    from pycep import BicepParser  # type: ignore[import-not-found]  # only .venv-iac has pycep; imported here

    report: dict[str, dict[str, object]] = {}
    for raw in paths:
        path = Path(raw)
        try:
            tree = BicepParser().parse(text=path.read_text(encoding="utf-8"))
        except Exception as exc:  # every parser failure is reported, not raised
            report[raw] = {"error": f"{type(exc).__name__}: {exc}", "tree": None}
        else:
            report[raw] = {"error": None, "tree": tree}
    json.dump(report, sys.stdout, default=str)
    return 1 if any(entry["error"] for entry in report.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""What the catalog's files say without loading the catalog: its schemas (pydantic models of
every workload, host pool and customization) are cold-start time an ignored event need not pay.

Only answers that cannot disagree with the loaded catalog: anything unclear says "maybe", and the
caller then loads the catalog (shared.domain.catalog_isolation) and decides from it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path


def may_declare_host_pools(folder: Path) -> bool:
    """False only when every workload file parses and none declares a host pool: then no workload
    of the loaded catalog has one (the `host_pools` key is their only source), and no rollout can
    wait on a session host. True otherwise, unreadable files and a missing folder included."""
    try:
        files = sorted(folder.glob("*.toml"))
        if not files:
            return True  # the loaded catalog refuses it with the reason
        for path in files:
            if tomllib.loads(path.read_text(encoding="utf-8")).get("host_pools"):
                return True
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    return False

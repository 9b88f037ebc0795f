"""The 'Azurite restarted mid-run' fault class, and the Azurite that keeps its data across restarts.

Its own module: it is the one class that starts processes and talks to Table Storage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from benchmarks.common import ROOT
from benchmarks.reliability_judge import FaultClass, judge
from localrun.runtime import LocalRuntime
from localrun.scenario import BUILDER, promote
from shared.adapters.table_records import TableRecordStore
from shared.domain.catalog import Catalog
from shared.domain.commands import StartBuild
from shared.domain.model import BuildReason, Stage

AZURITE = ROOT / "node_modules" / ".bin" / "azurite-table"

DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

FLUSH_SECONDS = 6.0  # Azurite's table store (LokiJS) autosaves every 5 s; SIGTERM does not flush


class PersistentAzurite:
    """Azurite with a --location folder, so its data survives a stop and a start on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )

    def start(self) -> None:
        args = [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(self.port)]
        args += ["--location", str(self.folder), "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/devstoreaccount1/Tables", timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Azurite did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def azurite_restart(catalog: Catalog, workload: str, cut_points: Iterable[int]) -> FaultClass:
    fault = FaultClass(
        "Azurite restarted mid-run",
        "Azurite started by the suite in persisted mode (`--location` a temp folder, not "
        "`--inMemoryPersistence`); the lifecycle runs `runtime.run(until=t)`, Azurite is stopped and started "
        "again on the same port and folder, then the lifecycle continues. Cut points t: minutes after the "
        "build started. Azurite's table store autosaves every 5 s and does not flush on SIGTERM, so the suite "
        "waits for a flush before stopping it (without that wait the restarted Azurite has lost the table: a "
        "storage loss, which Azure Table Storage does not have, rather than a restart).",
    )
    if not AZURITE.exists():
        fault.notes.append(f"not run: {AZURITE} missing (npm ci)")
        return fault
    for minutes in cut_points:
        folder = Path(tempfile.mkdtemp(prefix="azurite-"))
        azurite = PersistentAzurite(folder)
        azurite.start()
        try:
            store = TableRecordStore.from_connection_string(azurite.connection_string, "reliability")
            store.ensure_table()
            runtime = LocalRuntime(catalog, records=store)
            start = runtime.sim.clock.now()
            runtime.submit(
                StartBuild(workload=workload, run_id="first-build", reason=BuildReason.FIRST, requested_by=BUILDER)
            )
            runtime.run(until=start + timedelta(minutes=minutes))
            step_at_cut = store.find_run(workload, "first-build")
            time.sleep(FLUSH_SECONDS)  # let Azurite's LokiJS autosave flush: a restart, not a disk loss
            azurite.stop()
            azurite.start()
            runtime.run()
            for stage in (Stage.VALIDATION, Stage.PRODUCTION):
                promote(runtime, workload, "1.0.0", stage)
            verdict = fault.add(judge(runtime, workload))
            fault.notes.append(
                f"cut at +{minutes} min (run at step {step_at_cut.step if step_at_cut else '-'}): {verdict.outcome}"
            )
        finally:
            azurite.stop()
            shutil.rmtree(folder, ignore_errors=True)
    return fault

"""The demo's state on disk, so `avdimage --demo` and `make ui` work on what `make demo` left.

.demo/ (or $AVD_DEMO_DIR) holds:
  azurite/          Azurite's table files (its --location): the records, table `avddemo`
  simulator.pickle  the simulator's resources (VMs, disks, gallery versions, host pools, ...) and virtual time
  catalog/          the catalog the estate was made with (office serving the demo's two host pools)

The simulator is saved only when idle (no operation in flight), so nothing in it is a callback
still waiting to run; finished operations keep their status for late polls. The pickle is a
local file the demo wrote for itself and is never read from anywhere else.
"""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from localrun.azurite import ROOT, azurite
from localrun.runtime import LocalRuntime
from shared.adapters.table_records import TableRecordStore
from simulator import Simulator

TABLE = "avddemo"
FORMAT = 1
BACKENDS = ("compute", "network", "gallery", "desktop")


class DemoStateMissing(RuntimeError):
    """`make demo` has not run here (or its folder was removed)."""


class DemoStateBusy(DemoStateMissing):
    """Another process (`make ui`, another `avdimage --demo`) has the demo's state open."""


def demo_dir() -> Path:
    return Path(os.environ.get("AVD_DEMO_DIR") or ROOT / ".demo")


def azurite_dir(base: Path | None = None) -> Path:
    return (base or demo_dir()) / "azurite"


def catalog_dir(base: Path | None = None) -> Path:
    """The catalog the demo's estate was made with (its host pools included), else the repository's."""
    kept = (base or demo_dir()) / "catalog"
    return kept if kept.is_dir() else ROOT / "catalog"


def simulator_file(base: Path | None = None) -> Path:
    return (base or demo_dir()) / "simulator.pickle"


def _shared_parts(sim: Simulator) -> dict[int, str]:
    """Objects every resource may point at; saved by name and reattached to the new simulator."""
    parts: dict[str, object] = {"ctx": sim.ctx, "clock": sim.clock, "events": sim.events, "faults": sim.faults}
    parts.update({name: getattr(sim, name) for name in BACKENDS})
    return {id(obj): name for name, obj in parts.items()}


class _Pickler(pickle.Pickler):
    def __init__(self, file: Any, shared: dict[int, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared = shared

    def persistent_id(self, obj: Any) -> str | None:
        return self._shared.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        # Callbacks of finished operations (on_success/on_failure) never run again.
        if isinstance(obj, types.FunctionType | types.MethodType | types.LambdaType | functools.partial):
            return type(None), ()
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, sim: Simulator) -> None:
        super().__init__(file)
        self._sim = sim

    def persistent_load(self, pid: Any) -> Any:
        return getattr(self._sim, str(pid))


def code_fingerprint() -> str:
    """The simulator's source, hashed: a pickle from other code would come back with the wrong fields."""
    import hashlib

    import simulator

    digest = hashlib.sha256()
    for source in sorted(Path(simulator.__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def save_simulator(sim: Simulator, path: Path) -> None:
    """Write the simulator's resources and time; refuses while an operation is still in flight."""
    pending = [op.operation_name for op in sim.ctx.operations.values() if not op.done]
    if pending or sim.clock.next_due() is not None:
        raise RuntimeError(f"the simulator is not idle ({', '.join(pending) or 'timers scheduled'}); run it first")
    header = {
        "format": FORMAT,
        "code": code_fingerprint(),
        "subscription_id": sim.subscription_id,
        "start": sim.start,
    }
    state = {
        "now": sim.clock.now(),
        "resource_groups": sim.ctx.resource_groups,
        "operations": sim.ctx.operations,
        "base_url": sim.ctx.base_url,
        **{name: {k: v for k, v in vars(getattr(sim, name)).items() if k != "ctx"} for name in BACKENDS},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as file:
        pickle.dump(header, file, protocol=pickle.HIGHEST_PROTOCOL)  # plain data, read first
        _Pickler(file, _shared_parts(sim)).dump(state)
    temporary.replace(path)


def load_simulator(path: Path) -> Simulator:
    """A simulator with the saved resources, at the saved virtual time, operations as they ended."""
    with path.open("rb") as file:
        try:
            header = pickle.load(file)  # noqa: S301 - the demo's own file (see the module docstring)
        except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as error:
            raise DemoStateMissing(f"{path} cannot be read ({error}); run `make demo` again") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("code") != code_fingerprint():
            raise DemoStateMissing(f"{path} was written by another version of the simulator; run `make demo` again")
        sim = Simulator(subscription_id=header["subscription_id"], start=header["start"], auto_advance_on_poll=False)
        state = _Unpickler(file, sim).load()
    now: datetime = state["now"]
    sim.clock.advance_to(now)
    sim.ctx.resource_groups.update(state["resource_groups"])
    sim.ctx.operations.update(state["operations"])
    sim.ctx.base_url = state["base_url"]
    for name in BACKENDS:
        vars(getattr(sim, name)).update(state[name])
    return sim


@contextmanager
def demo_runtime(base: Path | None = None, *, save: bool = True) -> Iterator[LocalRuntime]:
    """The product wired to what `make demo` left: its Azurite tables and its simulator.

    On exit, messages still queued are delivered (virtual time moves on) and, if anything was
    delivered, the simulator is saved again so the next command sees the change.
    """
    folder = base or demo_dir()
    saved = simulator_file(folder)
    if not saved.exists() or not azurite_dir(folder).exists():
        raise DemoStateMissing(f"no demo state in {folder}: run `make demo` first (it leaves its state there)")
    with _exclusive(folder):
        sim = load_simulator(saved)
        with azurite(azurite_dir(folder)) as (_, connection):
            records = TableRecordStore.from_connection_string(connection, TABLE)
            runtime = LocalRuntime(catalog_dir(folder), records=records, simulator=sim)
            yield runtime
            runtime.run()
            if save and runtime.trace.deliveries:
                save_simulator(runtime.sim, saved)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One process on the demo's state at a time: two Azurites on one folder would lose writes."""
    with (folder / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoStateBusy(f"{folder} is in use by another process (`make ui`?); stop it first") from None
        yield

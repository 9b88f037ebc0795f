"""What the route table, response layer and transport need of a simulator.

They depend on this Protocol instead of ``simulator.core``, and ``core`` depends on them:
imports run one way only (core -> routes/responses/transport -> app -> backends).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from simulator.backends.base import Context
    from simulator.backends.compute import ComputeBackend
    from simulator.backends.desktop_virtualization import DesktopVirtualizationBackend
    from simulator.backends.gallery import GalleryBackend
    from simulator.backends.images import ImagesBackend
    from simulator.backends.network import NetworkBackend
    from simulator.clock import VirtualClock

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


class SimulatorApp(Protocol):
    subscription_id: str
    auto_advance_on_poll: bool
    advance_on_sleep: bool
    lock: threading.RLock
    clock: VirtualClock
    ctx: Context
    compute: ComputeBackend
    network: NetworkBackend
    gallery: GalleryBackend
    images: ImagesBackend
    desktop: DesktopVirtualizationBackend

    def handle(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]: ...

    def transport(self) -> Any: ...

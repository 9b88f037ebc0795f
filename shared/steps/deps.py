"""What every handler gets injected: records, compute, the catalog, a clock, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.adapters.clock import Clock
from shared.domain.approvals import Principal, TokenRefused, TokenVerifier
from shared.domain.catalog import Catalog, Workload
from shared.domain.compute import Compute
from shared.domain.errors import RequestRefused
from shared.domain.hostpools import HostPools, RolloutRecords
from shared.domain.records import RecordStore

if TYPE_CHECKING:
    from shared.config import Settings


def _settings() -> Settings:
    """Imported on first use: pydantic-settings is cold-start time the event path need not pay."""
    from shared.config import Settings

    return Settings()


@dataclass
class Deps:
    records: RecordStore
    compute: Compute
    catalog: Catalog
    clock: Clock
    settings: Settings = field(default_factory=_settings)
    hostpools: HostPools | None = None  # Azure Virtual Desktop (host pool inventory and rollouts)
    rollouts: RolloutRecords | None = None  # rollout records, in the same table
    verifier: TokenVerifier | None = None  # Entra ID in Azure, the local issuer in tests and the demo

    def verify(self, token: str, what: str) -> Principal:
        """The token's verified principal; refused when approvals are not configured."""
        if self.verifier is None:
            raise TokenRefused(
                "approvals are not configured: set AVD_ENTRA_TENANT_ID and AVD_APPROVALS_CLIENT_ID "
                "(docs/deploy.md, 'Approvals: the app registration')"
            )
        return self.verifier.verify(token, what)

    def workload(self, name: str) -> Workload:
        try:
            return self.catalog.get(name)
        except KeyError:
            disabled = next((d for d in self.catalog.disabled if d.name == name), None)
            if disabled is not None:
                raise RequestRefused(disabled.reason) from None
            raise RequestRefused(f"unknown workload {name!r}: it is not in the catalog") from None

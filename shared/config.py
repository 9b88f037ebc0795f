"""Settings from the environment: Azure App Settings and local.settings.json `Values`
are both environment variables, so one pydantic-settings class serves both."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.deployed_gallery import DeployedGallery
from shared.names import APPROVAL_QUEUE, SERVICE_BUS_CONNECTION, STEP_QUEUE

__all__ = ["APPROVAL_QUEUE", "SERVICE_BUS_CONNECTION", "STEP_QUEUE", "Settings"]


class Settings(BaseSettings):
    """Everything the app reads from its environment, with safe local defaults."""

    model_config = SettingsConfigDict(env_prefix="AVD_", extra="ignore", frozen=True)

    catalog_path: Path = Field(default=Path("catalog"), description="Folder of workload TOML files")
    subscription_id: str = Field(default="00000000-0000-0000-0000-000000000000")
    arm_endpoint: str = Field(default="https://management.azure.com")
    table_name: str = Field(default="imagelifecycle", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    # Identity-based in Azure (https://<account>.table.core.windows.net) ...
    tables_endpoint: str | None = None
    # ... or a connection string locally (Azurite's published development key).
    tables_connection_string: str | None = None
    # Where managed Run Commands write their full stdout/stderr (append blobs): the app's storage
    # account by endpoint in Azure, Azurite's blob service by connection string locally.
    blobs_endpoint: str | None = None
    blobs_connection_string: str | None = None
    run_output_container: str = Field(default="runcommand-output", pattern=r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
    # The deployed gallery (infra's rg-<env>-images and its gallery): where every workload's
    # image definition lives. Catalog files name only the definition (see DeployedGallery).
    image_resource_group: str = Field(default=DeployedGallery().resource_group)
    gallery_name: str = Field(default=DeployedGallery().name)
    temp_resource_ttl_hours: int = Field(default=24, ge=1)
    bitlocker_timeout_minutes: int = Field(default=180, ge=5)
    event_grid: bool = Field(
        default=True, description="ARM events reach the app (infra subscribes them); re-checks are then a safety net"
    )
    deprecation_grace_days: int = Field(default=30, ge=0)
    reconcile_per_sweep: int = Field(
        default=4, ge=1, le=1000, description="Workloads the hourly sweep reconciles (a rotating slice; ARM reads)"
    )
    # Approvals (docs/deploy.md, "Approvals: the app registration"): tokens Entra ID signed.
    entra_tenant_id: str = Field(default="", description="Tenant whose tokens are accepted")
    approvals_client_id: str = Field(default="", description="Client id of the app registration (audience)")
    approvals_app_id_uri: str = Field(default="", description="Its Application ID URI; default api://<client id>")
    entra_authority: str = Field(default="https://login.microsoftonline.com")
    token_leeway_seconds: int = Field(default=120, ge=0, le=600, description="Clock skew allowed on exp/nbf")
    approval_valid_hours: int = Field(default=72, ge=1, le=24 * 30, description="Approvals expire after this")
    rollback_window_minutes: int = Field(default=20, ge=1, le=24 * 60, description="A rollback must be this recent")
    status_readers_group: str = Field(default="", description="Entra group whose members may read the status page")
    operator_credential: str = Field(
        default="cli", pattern=r"^(cli|interactive|device-code)$", description="How `avdimage` signs operators in"
    )

    @property
    def deployed_gallery(self) -> DeployedGallery:
        return DeployedGallery(resource_group=self.image_resource_group, name=self.gallery_name)

"""Default virtual durations (seconds) of simulated operations; override with ``durations={...}``."""

from __future__ import annotations

DEFAULT_DURATIONS: dict[str, float] = {
    "resource_group_create": 1,
    "vm_create": 180,
    "vm_update": 10,
    "vm_start": 60,
    "vm_restart": 60,
    "vm_power_off": 30,
    "vm_deallocate": 60,
    "vm_generalize": 5,
    "vm_delete": 60,
    "run_command": 40,
    "run_command_report": 0,  # agent's delay between running a script and reporting it
    "disk_create": 60,
    "disk_delete": 10,
    "snapshot_create": 60,
    "snapshot_delete": 10,
    "nic_create": 5,
    "nic_delete": 5,
    "vnet_create": 5,
    "subnet_create": 5,
    "vnet_delete": 5,
    "bitlocker_decrypt_128gb": 1500,
    "device_encryption": 600,
    "sysprep": 540,
    "sysprep_failure": 60,
    "gallery_create": 10,
    "gallery_delete": 10,
    "gallery_image_create": 10,
    "gallery_image_delete": 10,
    "gallery_version_create": 1200,
    "replication_per_region": 900,
    "gallery_version_delete": 60,
    "avd_agent_install": 300,  # DSC extension: AVD agent + boot loader install, registration
    "avd_heartbeat": 30,  # AVD agent heartbeat interval
}


def merged(overrides: dict[str, float] | None) -> dict[str, float]:
    """Defaults with ``overrides`` applied; unknown keys are an error (catches typos)."""
    result = dict(DEFAULT_DURATIONS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_DURATIONS:
            raise KeyError(f"unknown duration {key!r}; known: {sorted(DEFAULT_DURATIONS)}")
        if value < 0:
            raise ValueError(f"duration {key!r} must be >= 0")
        result[key] = float(value)
    return result

"""What the simulated guest prints for the ways admins check BitLocker.

`manage-bde -status`, `Get-BitLockerVolume` as the default table, as `Format-List`, and piped
to `ConvertTo-Json`. Run Command runs Windows PowerShell 5.1, whose ConvertTo-Json writes enums
as their numbers and indents over many lines; the numbers are those of Win32_EncryptableVolume
(Microsoft Learn: "GetConversionStatus method of the Win32_EncryptableVolume class",
"GetProtectionStatus method of the Win32_EncryptableVolume class").
"""

from __future__ import annotations

import json
from typing import Protocol

VOLUME_STATUS_NUMBERS = {
    "FullyDecrypted": 0,
    "FullyEncrypted": 1,
    "EncryptionInProgress": 2,
    "DecryptionInProgress": 3,
    "EncryptionSuspended": 4,
    "DecryptionSuspended": 5,
}
PROTECTION_STATUS_NUMBERS = {"Off": 0, "On": 1, "Unknown": 2}


class Volume(Protocol):
    volume_status: str
    encryption_percentage: float
    protection_status: str
    key_protectors: list[str]
    disk_size_gb: int
    build: int


def _capacity(v: Volume) -> str:
    return f"{v.disk_size_gb - 1.55:.2f}"


def _method(v: Volume) -> str:
    return "None" if v.volume_status == "FullyDecrypted" else "XtsAes128"


def manage_bde(v: Volume) -> str:
    conversion = {
        "FullyDecrypted": "Fully Decrypted",
        "FullyEncrypted": "Fully Encrypted",
        "EncryptionInProgress": "Encryption in Progress",
        "DecryptionInProgress": "Decryption in Progress",
    }[v.volume_status]
    method = "None" if v.volume_status == "FullyDecrypted" else "XTS-AES 128"
    protectors = (
        "    Key Protectors:\n" + "\n".join(f"        {p.upper()}" for p in v.key_protectors)
        if v.key_protectors
        else "    Key Protectors:       None Found"
    )
    return (
        f"BitLocker Drive Encryption: Configuration Tool version 10.0.{v.build}\n"
        "Copyright (C) 2013 Microsoft Corporation. All rights reserved.\n\n"
        "Volume C: [Windows]\n[OS Volume]\n\n"
        f"    Size:                 {_capacity(v)} GB\n"
        "    BitLocker Version:    2.0\n"
        f"    Conversion Status:    {conversion}\n"
        f"    Percentage Encrypted: {v.encryption_percentage:.1f}%\n"
        f"    Encryption Method:    {method}\n"
        f"    Protection Status:    Protection {v.protection_status}\n"
        "    Lock Status:          Unlocked\n"
        "    Identification Field: Unknown\n"
        f"{protectors}\n"
    )


def _protectors(v: Volume) -> str:
    return "{" + ", ".join(v.key_protectors) + "}"


def table(v: Volume, computer: str = "VM") -> str:
    """`Get-BitLockerVolume` with no formatting: PowerShell's default table view."""
    pct = f"{round(v.encryption_percentage)}"
    return (
        f"\n   ComputerName: {computer}\n\n"
        "VolumeType      Mount CapacityGB VolumeStatus           Encryption KeyProtector              "
        "AutoUnlock Protection\n"
        "                Point                                   Percentage                           "
        "Enabled    Status\n"
        "----------      ----- ---------- ------------           ---------- ------------              "
        "---------- ----------\n"
        f"OperatingSystem C:    {_capacity(v):>10} {v.volume_status:<22} {pct:<10} {_protectors(v):<25}"
        f"            {v.protection_status}\n"
    )


def list_form(v: Volume, computer: str = "VM") -> str:
    """`Get-BitLockerVolume | Format-List`."""
    rows = [
        ("ComputerName", computer),
        ("MountPoint", "C:"),
        ("EncryptionMethod", _method(v)),
        ("AutoUnlockEnabled", ""),
        ("AutoUnlockKeyStored", "False"),
        ("MetadataVersion", "2"),
        ("VolumeStatus", v.volume_status),
        ("ProtectionStatus", v.protection_status),
        ("LockStatus", "Unlocked"),
        ("EncryptionPercentage", f"{round(v.encryption_percentage)}"),
        ("WipePercentage", "0"),
        ("VolumeType", "OperatingSystem"),
        ("CapacityGB", _capacity(v)),
        ("KeyProtector", _protectors(v)),
    ]
    return "\n" + "\n".join(f"{k:<20} : {val}" for k, val in rows) + "\n"


def raw_json(v: Volume, computer: str = "VM") -> str:
    """`Get-BitLockerVolume | ConvertTo-Json` in Windows PowerShell 5.1: enums as numbers, indented."""
    document = {
        "ComputerName": computer,
        "MountPoint": "C:",
        "EncryptionMethod": 0 if v.volume_status == "FullyDecrypted" else 6,
        "AutoUnlockEnabled": None,
        "AutoUnlockKeyStored": False,
        "MetadataVersion": 2,
        "VolumeStatus": VOLUME_STATUS_NUMBERS[v.volume_status],
        "ProtectionStatus": PROTECTION_STATUS_NUMBERS[v.protection_status],
        "LockStatus": 0,
        "EncryptionPercentage": round(v.encryption_percentage),
        "WipePercentage": 0,
        "VolumeType": 0,
        "CapacityGB": float(_capacity(v)),
        "KeyProtector": [{"KeyProtectorType": 1 if p == "Tpm" else 3} for p in v.key_protectors],
    }
    return json.dumps(document, indent=4)

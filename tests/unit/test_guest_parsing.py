"""What the product reads from the guest: JSON over many lines, enums by name or number, clear errors."""

from __future__ import annotations

import json

import pytest

from shared.domain.errors import AzureOperationError
from shared.steps import guest


def test_json_indented_over_many_lines_is_read() -> None:
    """ConvertTo-Json without -Compress indents over many lines; progress output before it is skipped."""
    document = {"volumeStatus": "FullyDecrypted", "encryptionPercentage": 0, "nested": {"a": [1, 2]}}
    stdout = "Installing...\nDone.\n" + json.dumps(document, indent=4)
    assert guest.last_json_line(stdout, "status") == document


def test_enums_printed_as_numbers_are_read() -> None:
    """Windows PowerShell 5.1 prints VolumeStatus/ProtectionStatus as numbers: 1 is FullyEncrypted."""
    assert guest.volume({"VolumeStatus": 1, "EncryptionPercentage": 100}) == ("FullyEncrypted", 100)
    assert guest.volume({"volumeStatus": "3", "encryptionPercentage": "42.4"}) == ("DecryptionInProgress", 42)
    assert guest.volume({"volumeStatus": "fullydecrypted", "encryptionPercentage": 0}) == ("FullyDecrypted", 0)
    assert guest.enum_name(1, guest.PROTECTION_STATUS, "protectionStatus", "x") == "On"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"volumeStatus": 9, "encryptionPercentage": 0}, "unreadable volumeStatus 9"),
        ({"volumeStatus": "Sideways", "encryptionPercentage": 0}, "unreadable volumeStatus 'Sideways'"),
        ({"volumeStatus": "FullyEncrypted", "encryptionPercentage": "lots"}, "unreadable encryptionPercentage"),
        ({"encryptionPercentage": 0}, "no volumeStatus"),
    ],
)
def test_unreadable_values_are_named(data: dict[str, object], named: str) -> None:
    """Whatever cannot be read is named in the error, with what was expected."""
    with pytest.raises(AzureOperationError) as error:
        guest.volume(data, "bitlocker-status on vm1")
    assert named in str(error.value)
    assert "bitlocker-status on vm1" in str(error.value)


def test_output_without_a_json_object_is_an_error_quoting_it() -> None:
    """No JSON object last on stdout: the error quotes the end of what was printed."""
    with pytest.raises(AzureOperationError) as error:
        guest.last_json_line("The term 'winget' is not recognized", "inventory")
    assert "winget" in str(error.value)

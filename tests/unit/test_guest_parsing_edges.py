"""What the product reads from its guest scripts' output, and the exact errors an admin reads when it cannot.

Literal expectations for shared.steps.guest: the operation, code and message of every refusal,
the enum and percentage edges, the inventory's fields and their defaults, sysprep's state and
the manifest drift lines a clone check or a validation reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.compute import ScriptResult
from shared.domain.errors import AzureOperationError
from shared.domain.model import App, Manifest
from shared.steps import guest

VOLUME_NAMES = (
    "FullyDecrypted, FullyEncrypted, EncryptionInProgress, DecryptionInProgress, "
    "EncryptionSuspended, DecryptionSuspended"
)


def refusal(call: Any, *args: Any) -> AzureOperationError:
    with pytest.raises(AzureOperationError) as error:
        call(*args)
    return error.value


def assert_refused(error: AzureOperationError, operation: str, code: str, message: str) -> None:
    assert (error.operation, error.code, error.azure_message) == (operation, code, message)


# --- script output ---------------------------------------------------------------------------------


def test_a_scripts_stderr_is_its_error_cut_at_2000_characters() -> None:
    """Anything on stderr fails the script: the error keeps the first 2,000 characters of it."""
    error = refusal(guest.parse, ScriptResult(stdout='{"a": 1}', stderr="  " + "e" * 2500 + "\n"), "inventory on vm1")
    assert_refused(error, "inventory on vm1", "GuestScriptError", "e" * 2000)


def test_a_scripts_unreadable_stdout_names_the_operation() -> None:
    """No stderr and no JSON object last: the error names the operation it was asked for."""
    error = refusal(guest.parse, ScriptResult(stdout="done", stderr=" \n"), "bitlocker-status on vm1")
    assert_refused(
        error, "bitlocker-status on vm1", "GuestScriptOutput", "expected a JSON object last on stdout, got 'done'"
    )
    assert guest.parse(ScriptResult(stdout='{"a": 1}', stderr=""), "x") == {"a": 1}


def test_a_compact_json_line_after_progress_is_read() -> None:
    """ConvertTo-Json -Compress prints one line: it is read after lines of progress output."""
    assert guest.last_json_line('Installing...\n{"volumeStatus": 1}', "status") == {"volumeStatus": 1}


def test_text_after_the_json_object_is_an_error() -> None:
    """The object must be the last thing printed: output after it means the script did not finish as expected."""
    error = refusal(guest.last_json_line, '{"a": 1}\nDone.', "inventory")
    assert_refused(
        error, "inventory", "GuestScriptOutput", "expected a JSON object last on stdout, got '{\"a\": 1}\\nDone.'"
    )


def test_unreadable_output_is_quoted_by_its_last_200_characters() -> None:
    """The error quotes only the end of a long output, where the script's last words are."""
    stdout = "a" * 100 + "b" * 200
    error = refusal(guest.last_json_line, stdout, "inventory on vm1")
    assert_refused(
        error, "inventory on vm1", "GuestScriptOutput", f"expected a JSON object last on stdout, got {'b' * 200!r}"
    )


# --- enums and percentages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"), [(0, "FullyDecrypted"), ("0", "FullyDecrypted"), (5, "DecryptionSuspended"), (" 2 ", "EncryptionInProgress")]
)  # fmt: skip
def test_enum_numbers_from_first_to_last_are_read(value: object, name: str) -> None:
    """Numbers 0 to 5 name the six volume states, both edges included."""
    assert guest.enum_name(value, guest.VOLUME_STATUS, "volumeStatus", "x") == name


@pytest.mark.parametrize(("value", "shown"), [(6, "6"), (-1, "-1"), (True, "None"), ("On", "'On'")])
def test_an_unreadable_enum_is_refused_listing_what_is_expected(value: object, shown: str) -> None:
    """One past the last number, a negative, a boolean or an unknown name: the error lists names and numbers."""
    error = refusal(guest.enum_name, value, guest.VOLUME_STATUS, "volumeStatus", "bitlocker-status on vm1")
    expected = f"unreadable volumeStatus {shown}: expected one of {VOLUME_NAMES} or 0-5"
    assert_refused(error, "bitlocker-status on vm1", "GuestScriptOutput", expected)


def test_the_protection_enum_lists_its_own_range() -> None:
    """The expected range follows the enum's length: ProtectionStatus has three values, 0-2."""
    error = refusal(guest.enum_name, 3, guest.PROTECTION_STATUS, "protectionStatus", "x")
    assert error.azure_message == "unreadable protectionStatus 3: expected one of Off, On, Unknown or 0-2"


@pytest.mark.parametrize(("value", "number"), [("42%", 42), (" 99.6 % ", 100), ("0", 0), (100, 100), ("12.5", 12)])
def test_percentages_are_read_with_or_without_a_percent_sign(value: object, number: int) -> None:
    """A trailing % is allowed and the value is rounded; 0 and 100 are the edges."""
    assert guest.percentage(value, "encryptionPercentage", "x") == number


@pytest.mark.parametrize("value", ["12X", "%12", "lots", None])
def test_a_percentage_that_is_no_number_is_refused(value: object) -> None:
    """Only a number, perhaps followed by %, is a percentage: anything else is named."""
    error = refusal(guest.percentage, value, "encryptionPercentage", "bitlocker-status on vm1")
    expected = f"unreadable encryptionPercentage {value!r}: expected 0-100"
    assert_refused(error, "bitlocker-status on vm1", "GuestScriptOutput", expected)


@pytest.mark.parametrize("value", ["101", 100.6, -1, "-0.5"])
def test_a_percentage_out_of_range_is_refused(value: object) -> None:
    """Above 100 or below 0 is no percentage, even where rounding would bring it back."""
    error = refusal(guest.percentage, value, "encryptionPercentage", "bitlocker-status on vm1")
    expected = f"unreadable encryptionPercentage {value!r}: expected 0-100"
    assert_refused(error, "bitlocker-status on vm1", "GuestScriptOutput", expected)


# --- BitLocker volume ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"volumeStatus": "FullyDecrypted"}, "no encryptionPercentage in ['volumeStatus']"),
        ({"EncryptionPercentage": 0, "x": 1}, "no volumeStatus in ['EncryptionPercentage', 'x']"),
    ],
)
def test_a_volume_without_a_field_names_the_one_missing(data: dict[str, Any], missing: str) -> None:
    """The error names the missing field and lists the fields that came."""
    assert_refused(
        refusal(guest.volume, data, "bitlocker-off on vm1"), "bitlocker-off on vm1", "GuestScriptOutput", missing
    )


def test_a_volume_read_without_an_operation_says_bitlocker_status() -> None:
    """Read alone, a volume's refusal names the BitLocker status."""
    assert refusal(guest.volume, {}).operation == "BitLocker status"


# --- inventory -------------------------------------------------------------------------------------

FULL = {
    "osBuild": "26100.2314",
    "osDisplayVersion": "24H2",
    "hotfixes": ["KB5044284", "KB5043080"],
    "apps": [{"name": "zoom", "version": "6.2"}, {"name": "Adobe Reader"}, {"name": "edge", "version": 130}],
    "registry": {"HKLM:\\x": 1},
    "bitlocker": {"volumeStatus": "FullyEncrypted", "encryptionPercentage": "42"},
}


def test_an_inventory_is_read_field_by_field() -> None:
    """Build, display version, sorted hotfixes, apps sorted by name whatever the case, registry and BitLocker."""
    inventory = guest.parse_inventory("Collecting...\n" + json.dumps(FULL), "inventory on vm1")
    assert inventory.manifest == Manifest(
        os_build="26100.2314",
        os_display_version="24H2",
        hotfixes=("KB5043080", "KB5044284"),
        apps=(App(name="Adobe Reader", version=""), App(name="edge", version="130"), App(name="zoom", version="6.2")),
        registry={"HKLM:\\x": "1"},
    )
    assert (inventory.volume_status, inventory.encryption_percentage) == ("FullyEncrypted", 42)
    assert inventory.bitlocker == "FullyEncrypted (42% encrypted)"


def test_an_inventory_without_optional_fields_reads_them_empty() -> None:
    """No build, display version, hotfixes, apps or registry: empty strings and tuples, not 'None'."""
    inventory = guest.inventory_from({"bitlocker": {"VolumeStatus": 0, "EncryptionPercentage": 0}})
    assert inventory.manifest == Manifest(os_build="", os_display_version="", hotfixes=(), apps=(), registry={})
    assert inventory.bitlocker == "FullyDecrypted (0% encrypted)"


def test_an_inventory_without_bitlocker_is_refused() -> None:
    """The inventory must say how the disk is encrypted: its absence is named, by default as the inventory's."""
    assert_refused(refusal(guest.inventory_from, {"bitlocker": "on"}), "inventory", "GuestScriptOutput",
                   "the inventory has no bitlocker object")  # fmt: skip
    assert refusal(guest.inventory_from, {}, "inventory on vm1").operation == "inventory on vm1"


def test_an_inventorys_errors_name_the_operation() -> None:
    """Unreadable output or an incomplete BitLocker object: the error names the inventory's operation."""
    assert refusal(guest.parse_inventory, "nothing", "inventory on vm1").operation == "inventory on vm1"
    error = refusal(guest.inventory_from, {"bitlocker": {"volumeStatus": 1}}, "inventory on vm1")
    assert_refused(error, "inventory on vm1", "GuestScriptOutput", "no encryptionPercentage in ['volumeStatus']")


# --- sysprep and drift -----------------------------------------------------------------------------


def test_sysprep_state_is_read_with_its_defaults() -> None:
    """ImageState, whether sysprep still runs and its errors; absent fields read as '', False, []."""
    data = {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": 1, "errors": ["E1", 2]}
    assert guest.sysprep_state(data) == ("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", True, ["E1", "2"])
    assert guest.sysprep_state({"errors": None}) == ("", False, [])


def test_manifest_drift_lists_every_difference_in_order() -> None:
    """Build, missing and added hotfixes, then apps by name: changed, removed and added; equal apps say nothing."""
    expected = Manifest(os_build="1", hotfixes=("KB1", "KB2"),
                        apps=(App(name="a", version="1"), App(name="b", version="1"), App(name="c", version="1")))  # fmt: skip
    actual = Manifest(os_build="2", hotfixes=("KB2", "KB3"),
                      apps=(App(name="a", version="1"), App(name="b", version="2"), App(name="d", version="4")))  # fmt: skip
    assert guest.manifest_drift(expected, actual) == [
        "OS build 1 -> 2",
        "hotfix KB1 missing",
        "hotfix KB3 added",
        "app b: 1 -> 2",
        "app c: 1 -> absent",
        "app d: absent -> 4",
    ]
    assert guest.manifest_drift(expected, expected) == []

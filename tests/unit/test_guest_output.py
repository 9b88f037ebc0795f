"""What the guest scripts print, read exactly (shared.steps.guest): errors name the script and the field.

Every unreadable answer raises GuestScriptOutput (GuestScriptError for stderr) with the script
named as the operation and the value quoted; inventories become manifests with defaults for what
is missing; manifest drift lists every difference an admin reads in the audit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.compute import ScriptResult
from shared.domain.errors import AzureOperationError
from shared.domain.model import App, Manifest
from shared.steps import guest

WHAT = "inventory on vm1"


def refusal(call: Any) -> tuple[str, str, str]:
    with pytest.raises(AzureOperationError) as error:
        call()
    return error.value.operation, error.value.code, error.value.azure_message


def test_stderr_fails_the_script_quoting_2000_characters() -> None:
    """Anything on stderr is the script's failure: GuestScriptError quoting at most 2000 characters of it."""
    stderr = "  " + "e" * 2500 + "\n"
    assert refusal(lambda: guest.parse(ScriptResult(stdout="{}", stderr=stderr), WHAT)) == (
        WHAT,
        "GuestScriptError",
        "e" * 2000,
    )


def test_unparsable_stdout_names_the_script_and_quotes_the_last_200_characters() -> None:
    """No JSON object last: GuestScriptOutput, the script named, the last 200 characters quoted."""
    stdout = "x" * 300
    assert refusal(lambda: guest.parse(ScriptResult(stdout=stdout, stderr=""), WHAT)) == (
        WHAT,
        "GuestScriptOutput",
        f"expected a JSON object last on stdout, got {'x' * 200!r}",
    )


@pytest.mark.parametrize(
    ("stdout", "found"),
    [
        ('progress {"not": "a start"}\n{"a": 1}', {"a": 1}),  # a brace mid-line starts nothing
        ('{"a": 1}\n{"b": 2}', {"b": 2}),  # the last object wins
        ('{"b": 2}\n{"a": [1,\n', None),  # an unfinished last object: nothing is last
        ('{"b": 2}\n{"a": 1} trailing', None),  # something after the last object: none is last
        ('{"b": 2}\n[1, 2]', None),
        ("{}\n5", None),
        ('done {"a": 1}', None),  # an object that does not start its line is no answer
        ('{"a": {\n"b": 1}}', {"a": {"b": 1}}),  # a nested brace that starts a line is not the start
    ],
)
def test_the_json_object_printed_last_is_the_answer(stdout: str, found: dict[str, Any] | None) -> None:
    """Only an object that starts a line and ends the output counts; anything else is named as unreadable."""
    if found is None:
        assert refusal(lambda: guest.last_json_line(stdout, WHAT))[1] == "GuestScriptOutput"
    else:
        assert guest.last_json_line(stdout, WHAT) == found


@pytest.mark.parametrize(
    ("value", "name"),
    [(0, "FullyDecrypted"), ("5", "DecryptionSuspended"), (" fullyencrypted ", "FullyEncrypted")],
)
def test_enums_read_by_number_at_both_ends_or_by_name(value: Any, name: str) -> None:
    """0 and the last index are names too; names match whatever their case and spaces."""
    assert guest.enum_name(value, guest.VOLUME_STATUS, "volumeStatus", WHAT) == name


@pytest.mark.parametrize("value", [6, -1, True, False, None, "Sideways"])
def test_enums_out_of_range_or_booleans_are_refused_naming_the_choices(value: Any) -> None:
    """One past the last index, a negative, a boolean: refused, listing every name and the index range."""
    assert refusal(lambda: guest.enum_name(value, guest.VOLUME_STATUS, "volumeStatus", WHAT)) == (
        WHAT,
        "GuestScriptOutput",
        f"unreadable volumeStatus {None if isinstance(value, bool) else value!r}: expected one of FullyDecrypted, "
        "FullyEncrypted, EncryptionInProgress, DecryptionInProgress, EncryptionSuspended, DecryptionSuspended or 0-5",
    )


@pytest.mark.parametrize(("value", "number"), [("42.4%", 42), (" 100 ", 100), (0, 0), ("99.5", 100)])
def test_percentages_are_read_with_or_without_a_sign(value: Any, number: int) -> None:
    """A trailing % and spaces are allowed; the value is rounded."""
    assert guest.percentage(value, "encryptionPercentage", WHAT) == number


@pytest.mark.parametrize("value", ["lots", "%50", "50X", "100.5", -1, "101"])
def test_percentages_outside_0_to_100_are_refused(value: Any) -> None:
    """Not a number (a leading % included), or outside 0-100: refused, quoting the value."""
    assert refusal(lambda: guest.percentage(value, "encryptionPercentage", WHAT)) == (
        WHAT,
        "GuestScriptOutput",
        f"unreadable encryptionPercentage {value!r}: expected 0-100",
    )


@pytest.mark.parametrize(
    ("data", "missing"),
    [({"volumeStatus": 0}, "no encryptionPercentage in ['volumeStatus']"), ({}, "no volumeStatus in []")],
)
def test_a_volume_answer_without_a_field_names_it(data: dict[str, Any], missing: str) -> None:
    """The first field missing is named, with the fields that were there."""
    assert refusal(lambda: guest.volume(data, WHAT)) == (WHAT, "GuestScriptOutput", missing)


def test_a_volume_answer_names_the_script_in_its_errors() -> None:
    """An unreadable value inside the answer is reported against the script that printed it."""
    assert refusal(lambda: guest.volume({"VolumeStatus": 9, "EncryptionPercentage": 0}, WHAT))[0] == WHAT
    assert refusal(lambda: guest.volume({"VolumeStatus": 0, "EncryptionPercentage": "x"}, WHAT))[0] == WHAT
    assert refusal(lambda: guest.volume({}))[0] == "BitLocker status"


INVENTORY = {
    "osBuild": "26100.7171",
    "osDisplayVersion": "24H2",
    "hotfixes": ["KB2", "KB1"],
    "apps": [{"name": "teams", "version": "2"}, {"name": "Edge"}, {"name": "Office", "version": "16"}],
    "registry": {"HKLM:\\X": 1},
    "bitlocker": {"volumeStatus": "DecryptionInProgress", "encryptionPercentage": "40"},
}


def test_an_inventory_becomes_a_sorted_manifest() -> None:
    """Hotfixes sorted, apps sorted by name whatever the case (a missing version is ''), registry values as text."""
    found = guest.parse_inventory("Collecting...\n" + json.dumps(INVENTORY), WHAT)
    assert found.manifest == Manifest(
        os_build="26100.7171",
        os_display_version="24H2",
        hotfixes=("KB1", "KB2"),
        apps=(App(name="Edge", version=""), App(name="Office", version="16"), App(name="teams", version="2")),
        registry={"HKLM:\\X": "1"},
    )
    assert (found.volume_status, found.encryption_percentage) == ("DecryptionInProgress", 40)
    assert found.bitlocker == "DecryptionInProgress (40% encrypted)"


def test_an_inventory_missing_its_fields_reads_as_empty() -> None:
    """No OS build, display version, hotfixes, apps or registry: empty values, not 'None'."""
    found = guest.inventory_from({"bitlocker": {"volumeStatus": 0, "encryptionPercentage": 0}, "apps": None})
    assert found.manifest == Manifest()
    assert found.manifest.os_build == ""
    assert found.manifest.os_display_version == ""


@pytest.mark.parametrize("bitlocker", [None, "FullyDecrypted", [1]])
def test_an_inventory_without_a_bitlocker_object_is_refused(bitlocker: Any) -> None:
    """The inventory must carry a bitlocker object: refused, naming the script."""
    assert refusal(lambda: guest.inventory_from({"bitlocker": bitlocker}, WHAT)) == (
        WHAT,
        "GuestScriptOutput",
        "the inventory has no bitlocker object",
    )
    assert refusal(lambda: guest.inventory_from({}))[0] == "inventory"


def test_an_inventory_names_the_script_when_unreadable() -> None:
    """Unparsable output or an unreadable BitLocker value: the error names the script."""
    assert refusal(lambda: guest.parse_inventory("nothing", WHAT))[0] == WHAT
    bad = {"bitlocker": {"volumeStatus": "?", "encryptionPercentage": 0}}
    assert refusal(lambda: guest.inventory_from(bad, WHAT))[0] == WHAT


def test_the_sysprep_state_reads_its_three_fields_with_defaults() -> None:
    """imageState, whether sysprep still runs, and its errors as text; missing ones are '', False, []."""
    data = {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": 1, "errors": ["a", 2]}
    assert guest.sysprep_state(data) == ("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", True, ["a", "2"])
    assert guest.sysprep_state({"errors": None}) == ("", False, [])


def test_manifest_drift_lists_every_difference_in_order() -> None:
    """OS build, hotfixes missing then added, then apps changed, absent or new, each named."""
    expected = Manifest(
        os_build="1",
        hotfixes=("KB1", "KB2"),
        apps=(App(name="Edge", version="1"), App(name="Gone", version="3"), App(name="Same", version="5")),
    )
    actual = Manifest(
        os_build="2",
        hotfixes=("KB2", "KB3"),
        apps=(App(name="Edge", version="2"), App(name="New", version="4"), App(name="Same", version="5")),
    )
    assert guest.manifest_drift(expected, actual) == [
        "OS build 1 -> 2",
        "hotfix KB1 missing",
        "hotfix KB3 added",
        "app Edge: 1 -> 2",
        "app Gone: 3 -> absent",
        "app New: absent -> 4",
    ]
    assert guest.manifest_drift(expected, expected) == []

"""What the guest scripts print, read exactly (shared.steps.guest), and the errors an admin reads when it cannot be.

Pins the operation, code and literal message of every refusal (GuestScriptOutput, GuestScriptError for
stderr), the enum and percentage edges, the inventory's fields and their defaults, sysprep's state and
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

WHAT = "inventory on vm1"


def refusal(call: Any, *args: Any) -> tuple[str, str, str]:
    """The (operation, code, message) of the AzureOperationError that `call(*args)` raises."""
    with pytest.raises(AzureOperationError) as error:
        call(*args)
    return error.value.operation, error.value.code, error.value.azure_message


# --- script output ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stdout", ["{}", '{"a": 1}'])
def test_stderr_fails_the_script_quoting_2000_characters(stdout: str) -> None:
    """Anything on stderr is the script's failure, even after a readable answer: at most 2000 characters quoted."""
    stderr = "  " + "e" * 2500 + "\n"
    assert refusal(guest.parse, ScriptResult(stdout=stdout, stderr=stderr), WHAT) == (
        WHAT,
        "GuestScriptError",
        "e" * 2000,
    )


@pytest.mark.parametrize(
    ("stdout", "stderr", "operation", "message"),
    [
        ("x" * 300, "", WHAT, f"expected a JSON object last on stdout, got {'x' * 200!r}"),
        ("done", " \n", "bitlocker-status on vm1", "expected a JSON object last on stdout, got 'done'"),  # blank stderr
    ],
)
def test_unparsable_stdout_names_the_script_and_quotes_the_last_200_characters(
    stdout: str, stderr: str, operation: str, message: str
) -> None:
    """No stderr (blank counts as none) and no JSON object last: GuestScriptOutput naming the operation."""
    assert refusal(guest.parse, ScriptResult(stdout=stdout, stderr=stderr), operation) == (
        operation,
        "GuestScriptOutput",
        message,
    )


def test_a_script_without_stderr_answers_its_last_object() -> None:
    """No stderr and a JSON object last: that object is the answer."""
    assert guest.parse(ScriptResult(stdout='{"a": 1}', stderr=""), "x") == {"a": 1}


@pytest.mark.parametrize(
    ("stdout", "found"),
    [
        ('Installing...\n{"volumeStatus": 1}', {"volumeStatus": 1}),  # ConvertTo-Json -Compress after progress
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
        assert refusal(guest.last_json_line, stdout, WHAT)[1] == "GuestScriptOutput"
    else:
        assert guest.last_json_line(stdout, WHAT) == found


@pytest.mark.parametrize(
    ("stdout", "operation", "message"),
    [
        ('{"a": 1}\nDone.', "inventory", "expected a JSON object last on stdout, got '{\"a\": 1}\\nDone.'"),
        ("a" * 100 + "b" * 200, WHAT, f"expected a JSON object last on stdout, got {'b' * 200!r}"),
    ],
)
def test_unreadable_output_is_quoted_by_its_last_200_characters(stdout: str, operation: str, message: str) -> None:
    """Text after the object means the script did not finish as expected; only the output's end is quoted."""
    assert refusal(guest.last_json_line, stdout, operation) == (operation, "GuestScriptOutput", message)


# --- enums and percentages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (0, "FullyDecrypted"),
        ("0", "FullyDecrypted"),
        (5, "DecryptionSuspended"),
        ("5", "DecryptionSuspended"),
        (" 2 ", "EncryptionInProgress"),
        (" fullyencrypted ", "FullyEncrypted"),
    ],
)
def test_enums_read_by_number_at_both_ends_or_by_name(value: Any, name: str) -> None:
    """Numbers 0 to 5 name the six volume states, both edges included; names match whatever their case and spaces."""
    assert guest.enum_name(value, guest.VOLUME_STATUS, "volumeStatus", WHAT) == name


@pytest.mark.parametrize(
    ("value", "shown"),
    [(6, "6"), (-1, "-1"), (True, "None"), (False, "None"), (None, "None"), ("Sideways", "'Sideways'"), ("On", "'On'")],
)
def test_enums_out_of_range_or_booleans_are_refused_naming_the_choices(value: Any, shown: str) -> None:
    """One past the last index, a negative, a boolean or an unknown name: refused, listing every name and the range."""
    assert refusal(guest.enum_name, value, guest.VOLUME_STATUS, "volumeStatus", WHAT) == (
        WHAT,
        "GuestScriptOutput",
        f"unreadable volumeStatus {shown}: expected one of FullyDecrypted, "
        "FullyEncrypted, EncryptionInProgress, DecryptionInProgress, EncryptionSuspended, DecryptionSuspended or 0-5",
    )


def test_the_protection_enum_lists_its_own_range() -> None:
    """The expected range follows the enum's length: ProtectionStatus has three values, 0-2."""
    assert refusal(guest.enum_name, 3, guest.PROTECTION_STATUS, "protectionStatus", "x")[2] == (
        "unreadable protectionStatus 3: expected one of Off, On, Unknown or 0-2"
    )


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("42.4%", 42),
        ("42%", 42),
        (" 100 ", 100),
        (100, 100),
        (" 99.6 % ", 100),
        ("99.5", 100),
        ("12.5", 12),
        (0, 0),
        ("0", 0),
    ],
)
def test_percentages_are_read_with_or_without_a_sign(value: Any, number: int) -> None:
    """A trailing % and spaces are allowed; the value is rounded; 0 and 100 are the edges."""
    assert guest.percentage(value, "encryptionPercentage", WHAT) == number


@pytest.mark.parametrize(
    "value",
    [
        # no number (a leading % included)
        "lots",
        "%50",
        "%12",
        "50X",
        "12X",
        None,
        # outside 0-100, even where rounding would bring it back
        "100.5",
        100.6,
        "101",
        -1,
        "-0.5",
    ],
)
def test_percentages_outside_0_to_100_are_refused(value: Any) -> None:
    """Not a number, or outside 0-100: refused, quoting the value."""
    assert refusal(guest.percentage, value, "encryptionPercentage", WHAT) == (
        WHAT,
        "GuestScriptOutput",
        f"unreadable encryptionPercentage {value!r}: expected 0-100",
    )


# --- BitLocker volume ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"volumeStatus": 0}, "no encryptionPercentage in ['volumeStatus']"),
        ({"volumeStatus": "FullyDecrypted"}, "no encryptionPercentage in ['volumeStatus']"),
        ({}, "no volumeStatus in []"),
        ({"EncryptionPercentage": 0, "x": 1}, "no volumeStatus in ['EncryptionPercentage', 'x']"),
    ],
)
def test_a_volume_answer_without_a_field_names_it(data: dict[str, Any], missing: str) -> None:
    """The first field missing is named, with the fields that were there."""
    assert refusal(guest.volume, data, WHAT) == (WHAT, "GuestScriptOutput", missing)


def test_a_volume_answer_names_the_script_in_its_errors() -> None:
    """An unreadable value inside the answer is reported against the script; read alone, against the BitLocker status."""
    assert refusal(guest.volume, {"VolumeStatus": 9, "EncryptionPercentage": 0}, WHAT)[0] == WHAT
    assert refusal(guest.volume, {"VolumeStatus": 0, "EncryptionPercentage": "x"}, WHAT)[0] == WHAT
    assert refusal(guest.volume, {})[0] == "BitLocker status"


# --- inventory -------------------------------------------------------------------------------------


INVENTORY = {
    "osBuild": "26100.7171",
    "osDisplayVersion": "24H2",
    "hotfixes": ["KB2", "KB1"],
    "apps": [{"name": "teams", "version": "2"}, {"name": "Edge"}, {"name": "Office", "version": "16"}],
    "registry": {"HKLM:\\X": 1},
    "bitlocker": {"volumeStatus": "DecryptionInProgress", "encryptionPercentage": "40"},
}
FULL = {
    "osBuild": "26100.2314",
    "osDisplayVersion": "24H2",
    "hotfixes": ["KB5044284", "KB5043080"],
    "apps": [{"name": "zoom", "version": "6.2"}, {"name": "Adobe Reader"}, {"name": "edge", "version": 130}],
    "registry": {"HKLM:\\x": 1},
    "bitlocker": {"volumeStatus": "FullyEncrypted", "encryptionPercentage": "42"},
}


@pytest.mark.parametrize(
    ("data", "manifest", "volume", "bitlocker"),
    [
        (
            INVENTORY,
            Manifest(
                os_build="26100.7171",
                os_display_version="24H2",
                hotfixes=("KB1", "KB2"),
                apps=(App(name="Edge", version=""), App(name="Office", version="16"), App(name="teams", version="2")),
                registry={"HKLM:\\X": "1"},
            ),
            ("DecryptionInProgress", 40),
            "DecryptionInProgress (40% encrypted)",
        ),
        (
            FULL,
            Manifest(
                os_build="26100.2314",
                os_display_version="24H2",
                hotfixes=("KB5043080", "KB5044284"),
                apps=(
                    App(name="Adobe Reader", version=""),
                    App(name="edge", version="130"),
                    App(name="zoom", version="6.2"),
                ),
                registry={"HKLM:\\x": "1"},
            ),
            ("FullyEncrypted", 42),
            "FullyEncrypted (42% encrypted)",
        ),
    ],
)
def test_an_inventory_becomes_a_sorted_manifest(
    data: dict[str, Any], manifest: Manifest, volume: tuple[str, int], bitlocker: str
) -> None:
    """Hotfixes sorted, apps sorted by name whatever the case (a missing version is ''), registry values as text."""
    found = guest.parse_inventory("Collecting...\n" + json.dumps(data), WHAT)
    assert found.manifest == manifest
    assert (found.volume_status, found.encryption_percentage) == volume
    assert found.bitlocker == bitlocker


@pytest.mark.parametrize(
    "data",
    [
        {"bitlocker": {"volumeStatus": 0, "encryptionPercentage": 0}, "apps": None},
        {"bitlocker": {"VolumeStatus": 0, "EncryptionPercentage": 0}},
    ],
)
def test_an_inventory_missing_its_fields_reads_as_empty(data: dict[str, Any]) -> None:
    """No OS build, display version, hotfixes, apps or registry: empty strings and tuples, not 'None'."""
    found = guest.inventory_from(data)
    assert found.manifest == Manifest()
    assert found.manifest == Manifest(os_build="", os_display_version="", hotfixes=(), apps=(), registry={})
    assert found.manifest.os_build == ""
    assert found.manifest.os_display_version == ""
    assert found.bitlocker == "FullyDecrypted (0% encrypted)"


@pytest.mark.parametrize(
    ("data", "operation"),
    [
        ({"bitlocker": None}, WHAT),
        ({"bitlocker": "FullyDecrypted"}, WHAT),
        ({"bitlocker": [1]}, WHAT),
        ({"bitlocker": "on"}, None),  # no operation given: named as the inventory's
        ({}, None),
        ({}, WHAT),
    ],
)
def test_an_inventory_without_a_bitlocker_object_is_refused(data: dict[str, Any], operation: str | None) -> None:
    """The inventory must say how the disk is encrypted: refused, naming the script (by default 'inventory')."""
    args = (data,) if operation is None else (data, operation)
    assert refusal(guest.inventory_from, *args) == (
        operation or "inventory",
        "GuestScriptOutput",
        "the inventory has no bitlocker object",
    )


def test_an_inventory_names_the_script_when_unreadable() -> None:
    """Unparsable output, an unreadable or incomplete BitLocker object: the error names the script."""
    assert refusal(guest.parse_inventory, "nothing", WHAT)[0] == WHAT
    bad = {"bitlocker": {"volumeStatus": "?", "encryptionPercentage": 0}}
    assert refusal(guest.inventory_from, bad, WHAT)[0] == WHAT
    assert refusal(guest.inventory_from, {"bitlocker": {"volumeStatus": 1}}, WHAT) == (
        WHAT,
        "GuestScriptOutput",
        "no encryptionPercentage in ['volumeStatus']",
    )


# --- sysprep and drift -----------------------------------------------------------------------------


@pytest.mark.parametrize(("errors", "text"), [(["a", 2], ["a", "2"]), (["E1", 2], ["E1", "2"])])
def test_the_sysprep_state_reads_its_three_fields_with_defaults(errors: list[Any], text: list[str]) -> None:
    """imageState, whether sysprep still runs, and its errors as text; missing ones are '', False, []."""
    data = {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": 1, "errors": errors}
    assert guest.sysprep_state(data) == ("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", True, text)
    assert guest.sysprep_state({"errors": None}) == ("", False, [])


@pytest.mark.parametrize(
    ("expected_apps", "actual_apps", "app_lines"),
    [
        (
            [("Edge", "1"), ("Gone", "3"), ("Same", "5")],
            [("Edge", "2"), ("New", "4"), ("Same", "5")],
            ["app Edge: 1 -> 2", "app Gone: 3 -> absent", "app New: absent -> 4"],
        ),
        (
            [("a", "1"), ("b", "1"), ("c", "1")],
            [("a", "1"), ("b", "2"), ("d", "4")],
            ["app b: 1 -> 2", "app c: 1 -> absent", "app d: absent -> 4"],
        ),
    ],
)
def test_manifest_drift_lists_every_difference_in_order(
    expected_apps: list[tuple[str, str]], actual_apps: list[tuple[str, str]], app_lines: list[str]
) -> None:
    """OS build, hotfixes missing then added, then apps by name: changed, absent or new; equal apps say nothing."""
    expected = Manifest(
        os_build="1", hotfixes=("KB1", "KB2"), apps=tuple(App(name=n, version=v) for n, v in expected_apps)
    )
    actual = Manifest(os_build="2", hotfixes=("KB2", "KB3"), apps=tuple(App(name=n, version=v) for n, v in actual_apps))
    assert guest.manifest_drift(expected, actual) == [
        "OS build 1 -> 2",
        "hotfix KB1 missing",
        "hotfix KB3 added",
        *app_lines,
    ]
    assert guest.manifest_drift(expected, expected) == []

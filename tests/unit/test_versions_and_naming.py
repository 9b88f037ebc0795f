"""Version numbers, bump rules and the naming standard."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import naming
from shared.domain.errors import InvalidInput
from shared.domain.model import BuildReason, VersionNumber, next_version

INT32 = st.integers(min_value=0, max_value=2**31 - 1)


@given(INT32, INT32, INT32, INT32, INT32, INT32)
def test_keys_sort_like_versions(a: int, b: int, c: int, x: int, y: int, z: int) -> None:
    """Zero-padded row keys order exactly as the versions do, over the whole int32 range."""
    left, right = VersionNumber(major=a, minor=b, patch=c), VersionNumber(major=x, minor=y, patch=z)
    assert (left.key < right.key) == (left < right)
    assert VersionNumber.from_key(left.key) == left


@pytest.mark.parametrize(
    "text",
    ["1.4", "1.4.0.0", "v1.4.0", "1.4.x", "-1.0.0", "2147483648.0.0", "1.0.0' or ''='", "../1.0.0", "1" * 10_000, ""],
)
def test_bad_versions_are_refused_with_the_rule(text: str) -> None:
    """Anything but Major.Minor.Patch with int32 parts is refused, naming the rule."""
    with pytest.raises(InvalidInput, match=r"Major\.Minor\.Patch"):
        VersionNumber.parse(text)


def test_error_messages_are_bounded() -> None:
    """A 10 kB hostile string is not echoed back whole."""
    with pytest.raises(InvalidInput) as caught:
        naming.workload_name("x" * 10_000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("previous", "reason", "expected"),
    [
        (None, BuildReason.FIRST, "1.0.0"),
        ("1.4.2", BuildReason.PATCH, "1.4.3"),
        ("1.4.2", BuildReason.CATALOG_CHANGE, "1.5.0"),
        ("1.4.2", BuildReason.NEW_OS_BASE, "2.0.0"),
    ],
)
def test_bump_rules(previous: str | None, reason: BuildReason, expected: str) -> None:
    """Patch rebuilds bump patch, catalog changes minor, a new OS base major."""
    base = VersionNumber.parse(previous) if previous else None
    assert str(next_version(base, reason)) == expected


def test_display_name_follows_the_standard() -> None:
    """OS | Workload | Image Version | Build Date, with the patch shown only when non-zero."""
    assert naming.display_name("Win11", "Office", VersionNumber.parse("1.4.0"), date(2026, 11, 3)) == (
        "Win11 | Office | v1.4.0 | 2026-11"
    )
    assert naming.display_name("Win11", "Office", VersionNumber.parse("1.0.1"), date(2026, 12, 15)) == (
        "Win11 | Office | v1.0.1 | 2026-12"
    )


@pytest.mark.parametrize("name", ["win11-24h2-office", "Win11_Office.v2", "a", "A1"])
def test_acg_safe_definition_names_pass(name: str) -> None:
    """Letters, digits, '-', '_' and '.' with alphanumeric ends are valid definition names."""
    assert naming.definition_name(name) == name


@pytest.mark.parametrize("name", ["-office", "office.", "off ice", "office/x", "a" * 81, "office'", ""])
def test_unsafe_definition_names_fail(name: str) -> None:
    """Anything outside the Compute Gallery rule is refused with the rule."""
    with pytest.raises(InvalidInput, match="image definition name"):
        naming.definition_name(name)


def test_temp_names_are_deterministic() -> None:
    """A retried step computes the same temporary resource name."""
    assert naming.temp_resource_name("office", "r20261125a", "vm") == "office--r20261125a--vm"
    assert naming.parse_resource_name("data-analyst--r-2026-11--snap") == ("data-analyst", "r-2026-11", "snap")
    assert naming.parse_resource_name("unrelated-vm") is None

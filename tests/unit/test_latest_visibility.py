"""Which regions 'latest' may resolve a version in (shared/domain/compute.py), and region names."""

from __future__ import annotations

import dataclasses

from shared.domain.compute import region_key
from tests.unit.fakes import replicated


def test_a_region_is_named_the_same_with_or_without_spaces_and_capitals() -> None:
    """'West Europe' (display form) and 'westeurope' (name form) are one key, written as Azure's name form."""
    assert region_key("West Europe") == "westeurope"
    assert region_key("Sweden Central") == region_key("swedencentral") == "swedencentral"


def test_a_version_excluded_from_latest_is_visible_in_no_region() -> None:
    """The version's own excludeFromLatest hides it everywhere, even with no per-region setting."""
    hidden = replicated("1.0.0")
    assert hidden.targets == ()
    assert hidden.visible_in("westeurope") is False
    shown = dataclasses.replace(hidden, exclude_from_latest=False)
    assert shown.visible_in("West Europe") is True

"""The naming standard's refusals, pinned literally: each says which name, what it was and the rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.domain import naming
from shared.domain.errors import InvalidInput

CHECKS: list[tuple[Callable[[object], str], str, str]] = [
    (
        naming.workload_name,
        "workload name",
        "use 3-40 lowercase letters, digits and single '-', starting with a letter",
    ),
    (
        naming.definition_name,
        "image definition name",
        "use 1-80 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    ),
    (
        naming.gallery_name,
        "gallery name",
        "use 1-80 letters, digits, '_' or '.', starting and ending with a letter or digit",
    ),
    (
        naming.resource_group_name,
        "resource group name",
        "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
    ),
    (naming.region, "region", "use an Azure region name such as 'westeurope'"),
    (naming.run_id, "run id", "use 3-32 lowercase letters, digits and single '-'"),
]


@pytest.mark.parametrize(("check", "what", "rule"), CHECKS, ids=[c[1] for c in CHECKS])
def test_each_refusal_names_the_field_the_value_and_the_rule(
    check: Callable[[object], str], what: str, rule: str
) -> None:
    """A bad name is refused with exactly `invalid <what> '<value>': <rule>`."""
    with pytest.raises(InvalidInput) as caught:
        check("Bad Name!")
    assert str(caught.value) == f"invalid {what} 'Bad Name!': {rule}"


@pytest.mark.parametrize(("check", "what", "rule"), CHECKS, ids=[c[1] for c in CHECKS])
def test_a_value_that_is_not_text_is_named_by_its_type(check: Callable[[object], str], what: str, rule: str) -> None:
    """A number or None where a name belongs is refused by its type name, not crashed on."""
    with pytest.raises(InvalidInput) as caught:
        check(42)
    assert str(caught.value) == f"invalid {what} int: {rule}"


def test_a_label_refusal_names_the_label_and_the_rule() -> None:
    """Labels say which label is wrong (`what` is the caller's) and the allowed characters."""
    with pytest.raises(InvalidInput) as caught:
        naming.label("!bad", "OS label")
    assert str(caught.value) == "invalid OS label '!bad': use 1-24 letters, digits, spaces, '.', '_', '+' or '-'"
    assert naming.label("Win 11+", "OS label") == "Win 11+"


@pytest.mark.parametrize(
    ("check", "good"),
    [
        (naming.workload_name, "office-2026"),
        (naming.gallery_name, "gal_avd.images"),
        (naming.resource_group_name, "rg-avd_images(prod)"),
        (naming.region, "westeurope"),
        (naming.run_id, "r20261125-a1"),
    ],
)
def test_valid_names_are_returned_unchanged(check: Callable[[object], str], good: str) -> None:
    """A valid name passes through as is (no trimming, no case change)."""
    assert check(good) == good


def test_shown_values_are_cut_at_sixty_characters_with_the_length() -> None:
    """Long hostile input is shown as its first 60 characters plus its length; 60 or fewer are shown whole."""
    assert naming._shown("x" * 60) == repr("x" * 60)
    assert naming._shown("y" * 61) == repr("y" * 60 + "... (61 chars)")
    with pytest.raises(InvalidInput) as caught:
        naming.region("Z" * 100)
    shown = repr("Z" * 60 + "... (100 chars)")
    assert str(caught.value) == f"invalid region {shown}: use an Azure region name such as 'westeurope'"


def test_the_source_vm_name_is_fixed_per_workload() -> None:
    """The long-lived source VM is `<workload>--image--src`, and parses back as such."""
    assert naming.source_vm_name("office") == "office--image--src"
    assert naming.parse_resource_name(naming.source_vm_name("office")) == ("office", "image", "src")


@pytest.mark.parametrize(
    "name",
    ["office--r1", "office--r1--vm--x", "Office--r1--vm", "1office--r1--vm", "Office--run-1--vm"],
)
def test_names_not_made_by_the_product_do_not_parse(name: str) -> None:
    """Only `<workload>--<owner>--<kind>` with a valid workload parses; anything else is not ours."""
    assert naming.parse_resource_name(name) is None

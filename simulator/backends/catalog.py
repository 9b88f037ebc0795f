"""Marketplace images and the monthly (Patch Tuesday) cumulative update catalog."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Offering:
    publisher: str
    offer: str
    sku: str
    build: int
    display_version: str
    product_name: str
    first_month: tuple[int, int]
    ubr_anchor: int  # UBR of the November 2025 update
    ubr_step: int
    default_encrypted: bool
    hyper_v_generation: str = "V2"


OFFERINGS: tuple[Offering, ...] = (
    Offering(
        "MicrosoftWindowsDesktop",
        "windows-11",
        "win11-24h2-avd",
        26100,
        "24H2",
        "Windows 11 Enterprise multi-session",
        (2024, 10),
        7171,
        250,
        False,
    ),
    Offering(
        "MicrosoftWindowsDesktop",
        "windows-11",
        "win11-25h2-avd",
        26200,
        "25H2",
        "Windows 11 Enterprise multi-session",
        (2025, 10),
        7171,
        250,
        True,
    ),
    Offering(
        "MicrosoftWindowsServer",
        "WindowsServer",
        "2022-datacenter-azure-edition",
        20348,
        "21H2",
        "Windows Server 2022 Datacenter Azure Edition",
        (2024, 1),
        4405,
        60,
        False,
    ),
    # A Generation 1 image: the REST examples' VMs are created from it.
    Offering(
        "MicrosoftWindowsServer",
        "WindowsServer",
        "2016-Datacenter",
        14393,
        "1607",
        "Windows Server 2016 Datacenter",
        (2024, 1),
        8594,
        30,
        False,
        "V1",
    ),
)

_KB_ANCHOR = 5068861  # the November 2025 cumulative update
_ANCHOR = (2025, 11)


def second_tuesday(year: int, month: int) -> date:
    first_weekday, _ = calendar.monthrange(year, month)
    first_tuesday = 1 + (calendar.TUESDAY - first_weekday) % 7
    return date(year, month, first_tuesday + 7)


def _month_index(year: int, month: int) -> int:
    return (year - _ANCHOR[0]) * 12 + (month - _ANCHOR[1])


@dataclass(frozen=True)
class CumulativeUpdate:
    year: int
    month: int
    released: date
    kb: str
    ubr: int

    def title(self, offering: Offering) -> str:
        os_name = "Windows 11" if offering.build >= 26000 else "Microsoft server operating system"
        return (
            f"{self.year}-{self.month:02d} Cumulative Update for {os_name} Version "
            f"{offering.display_version} for x64-based Systems ({self.kb})"
        )


def cumulative_update(offering: Offering, year: int, month: int) -> CumulativeUpdate:
    index = _month_index(year, month)
    kb_offset = 0 if offering.build >= 26000 else 7
    return CumulativeUpdate(
        year,
        month,
        second_tuesday(year, month),
        f"KB{_KB_ANCHOR + 4000 * index + kb_offset}",
        offering.ubr_anchor + offering.ubr_step * index,
    )


def current_update(offering: Offering, now: datetime) -> CumulativeUpdate:
    """The newest cumulative update released at ``now`` (Patch Tuesday, 17:00 UTC)."""
    year, month = now.year, now.month
    cu = cumulative_update(offering, year, month)
    release = datetime.combine(cu.released, datetime.min.time(), UTC) + timedelta(hours=17)
    if now < release:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        cu = cumulative_update(offering, year, month)
    return cu


@dataclass(frozen=True)
class MarketplaceImage:
    offering: Offering
    update: CumulativeUpdate
    published: date

    @property
    def version(self) -> str:
        return f"{self.offering.build}.{self.update.ubr}.{self.published:%y%m%d}"


def find_offering(publisher: str, offer: str, sku: str) -> Offering | None:
    for o in OFFERINGS:
        if (o.publisher.lower(), o.offer.lower(), o.sku.lower()) == (publisher.lower(), offer.lower(), sku.lower()):
            return o
    return None


def images(offering: Offering, now: datetime) -> list[MarketplaceImage]:
    """Images published up to ``now``: one per month, three days after Patch Tuesday."""
    result: list[MarketplaceImage] = []
    year, month = offering.first_month
    while (year, month) <= (now.year, now.month):
        cu = cumulative_update(offering, year, month)
        published = cu.released + timedelta(days=3)
        if datetime.combine(published, datetime.min.time(), UTC) <= now:
            result.append(MarketplaceImage(offering, cu, published))
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return result


def resolve(offering: Offering, version: str, now: datetime) -> MarketplaceImage | None:
    available = images(offering, now)
    if not available:
        return None
    if version.lower() == "latest":
        return available[-1]
    for image in available:
        if image.version == version:
            return image
    return None

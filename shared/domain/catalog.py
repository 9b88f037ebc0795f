"""The workload catalog: one TOML file per workload, the source of truth for its image.

TOML because the stdlib reads it (no YAML implicit typing surprises such as `no` -> False or
`1.10` -> 1.1), it has comments, and one small file per workload keeps pull-request diffs and
ownership (CODEOWNERS) per workload.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.domain import naming
from shared.domain.catalog_issues import MISSING_APPROVER, cross_file_issues, issue
from shared.domain.catalog_issues import CatalogError as CatalogError  # re-exported: the catalog's public error
from shared.domain.catalog_issues import CatalogIssue as CatalogIssue
from shared.domain.deployed_gallery import DeployedGallery as DeployedGallery  # re-exported
from shared.domain.errors import InvalidInput
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import Stage, VersionNumber


def _as(check: Any) -> Any:
    """Adapt a naming check (raises InvalidInput) to a pydantic validator (raises ValueError)."""

    def validate(value: str) -> str:
        try:
            result: str = check(value)
        except InvalidInput as error:
            raise ValueError(str(error)) from None
        return result

    return AfterValidator(validate)


WorkloadName = Annotated[str, _as(naming.workload_name)]
DefinitionName = Annotated[str, _as(naming.definition_name)]
GalleryName = Annotated[str, _as(naming.gallery_name)]
ResourceGroupName = Annotated[str, _as(naming.resource_group_name)]
Region = Annotated[str, _as(naming.region)]
OsLabel = Annotated[str, _as(lambda v: naming.label(v, "OS label"))]
VersionText = Annotated[str, AfterValidator(lambda v: str(VersionNumber.parse(v)))]
WorkloadLabel = Annotated[str, _as(lambda v: naming.label(v, "workload label"))]


MAX_CUSTOMIZATION_CHARS = 200_000  # Run Command's script limit is 256 KiB; the inventory needs room too


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SecurityType(StrEnum):
    STANDARD = "Standard"
    TRUSTED_LAUNCH_SUPPORTED = "TrustedLaunchSupported"
    TRUSTED_LAUNCH = "TrustedLaunch"
    TRUSTED_LAUNCH_AND_CONFIDENTIAL_VM_SUPPORTED = "TrustedLaunchAndConfidentialVmSupported"


class StorageAccountType(StrEnum):
    STANDARD_LRS = "Standard_LRS"
    STANDARD_ZRS = "Standard_ZRS"
    PREMIUM_LRS = "Premium_LRS"


def stricter(a: StorageAccountType, b: StorageAccountType) -> StorageAccountType:
    """The stricter of two storage types: ZRS (zone-redundant) and Premium both exceed LRS.

    ZRS and Premium_LRS cannot be ordered (one is redundancy, the other speed): ValueError.
    """
    if a is b or b is StorageAccountType.STANDARD_LRS:
        return a
    if a is StorageAccountType.STANDARD_LRS:
        return b
    raise ValueError(f"{a.value} and {b.value} cannot be ordered")


class MarketplaceImage(Strict):
    publisher: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
    offer: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
    sku: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
    version: str = Field(default="latest", pattern=r"^(latest|\d+\.\d+\.\d+)$")

    @property
    def urn(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"


class BaseImage(Strict):
    """Start from a marketplace image, or from an existing source VM an admin maintains."""

    marketplace: MarketplaceImage | None = None
    source_vm: str | None = Field(
        default=None,
        pattern=r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}"
        r"/providers/Microsoft\.Compute/virtualMachines/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    )

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        if (self.marketplace is None) == (self.source_vm is None):
            raise ValueError("set exactly one of base_image.marketplace or base_image.source_vm")
        return self


class Builtin(StrEnum):
    """Customizations the product ships: Windows Update through the Windows Update Agent API."""

    WINDOWS_UPDATE = "windows-update"


class Customization(Strict):
    """One ordered, named step run on the source VM as SYSTEM (a managed Run Command).

    Either a PowerShell `script` or a `builtin`. A non-zero exit code fails the run. `restart`
    restarts the VM after it; the Windows Update builtin restarts whenever updates ask for it and
    runs again until none remain.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    script: str = Field(default="", max_length=MAX_CUSTOMIZATION_CHARS)
    builtin: Builtin | None = None
    restart: bool = False
    timeout_minutes: int = Field(default=90, ge=5, le=24 * 60, description="Managed Run Command timeout")

    @model_validator(mode="after")
    def script_or_builtin(self) -> Self:
        if bool(self.script.strip()) == (self.builtin is not None):
            raise ValueError(f"customization {self.name!r}: set exactly one of script or builtin")
        return self


OBJECT_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Approver(Strict):
    """An Entra principal (user or workload identity) or group, by object id, with a label for people.

    Free text ("change board", an e-mail address) proves nothing: the approver is the subject of a
    signed token, matched by object id, or a member of a group listed in the token's `groups` claim.
    """

    principal: str | None = Field(default=None, pattern=OBJECT_ID, description="Object id of a user or app")
    group: str | None = Field(default=None, pattern=OBJECT_ID, description="Object id of a security group")
    label: str = Field(min_length=2, max_length=80, description="Shown in the audit trail, e.g. 'Change board'")

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        if (self.principal is None) == (self.group is None):
            raise ValueError("an approver names exactly one of 'principal' or 'group' (an Entra object id)")
        return self


def _approvers_are_principals(value: Any) -> Any:
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if isinstance(item, str):
                raise ValueError(
                    f"approver {index + 1} ({item[:60]!r}) is free text, not an Entra principal: write "
                    '{ group = "<object id>", label = "..." } or { principal = "<object id>", label = "..." }'
                )
    return value


class StagePolicy(Strict):
    regions: tuple[Region, ...] = Field(min_length=1)
    replica_count: int = Field(default=1, ge=1, le=100)
    storage_account_type: StorageAccountType = StorageAccountType.STANDARD_LRS
    approvers: tuple[Approver, ...] = Field(default=(), description="Who may approve promotion into this stage")
    approvals_required: int | None = Field(
        default=None, ge=1, le=5, description="Distinct approvers needed; production: 2 (the two-person rule)"
    )
    rollback_approvals_required: int = Field(
        default=1, ge=1, le=5, description="Production only: distinct approvers a rollback needs"
    )

    _free_text = field_validator("approvers", mode="before")(_approvers_are_principals)

    def required(self, stage: Stage) -> int:
        """Distinct verified principals a promotion into `stage` needs."""
        return self.approvals_required or (2 if stage is Stage.PRODUCTION else 1)


class Stages(Strict):
    test: StagePolicy
    validation: StagePolicy
    production: StagePolicy
    dr: StagePolicy | None = None

    def policy(self, stage: Stage) -> StagePolicy | None:
        value: StagePolicy | None = getattr(self, stage.value)
        return value

    @field_validator("validation", "production", "dr")
    @classmethod
    def approved_by_someone(cls, policy: StagePolicy | None, info: ValidationInfo) -> StagePolicy | None:
        """Reported as `stages.<stage>.approvers` (see parse_workload), the field to fix."""
        if policy is not None and not policy.approvers:
            raise PydanticCustomError(
                MISSING_APPROVER,
                "{stage} needs at least one approver: promotion into it is approved by one of them",
                {"stage": info.field_name},
            )
        return policy

    @model_validator(mode="after")
    def promotable(self) -> Self:
        if self.production.required(Stage.PRODUCTION) < 2:
            raise ValueError("production needs approvals_required >= 2: two distinct people (two-person rule)")
        for name in ("test", "validation", "production", "dr"):
            policy = self.policy(Stage(name))
            if policy is None:
                continue
            needed = max(policy.required(Stage(name)), policy.rollback_approvals_required)
            people = sum(1 for a in policy.approvers if a.principal is not None)
            if needed > 1 and not any(a.group for a in policy.approvers) and people < needed:
                raise ValueError(
                    f"{name} needs {needed} distinct approvers but lists only {people} principal(s) and no group"
                )
        return self

    @model_validator(mode="after")
    def storage_fixed_per_region(self) -> Self:
        """A region's storage type is fixed at its first replication, so its stages must agree on one."""
        seen: dict[str, tuple[str, StorageAccountType]] = {}
        for name in ("test", "validation", "production", "dr"):
            policy: StagePolicy | None = getattr(self, name)
            for region in policy.regions if policy else ():
                first = seen.get(region)
                kind = policy.storage_account_type if policy else StorageAccountType.STANDARD_LRS
                if first is None:
                    seen[region] = (name, kind)
                    continue
                try:
                    seen[region] = (first[0], stricter(first[1], kind))
                except ValueError:
                    raise ValueError(
                        f"region {region}: stage {first[0]} asks for {first[1].value}, stage {name} for "
                        f"{kind.value}; a region's storage type cannot change once it is replicated, "
                        "so stages sharing a region need types that can be ordered (LRS < ZRS, LRS < Premium)"
                    ) from None
        return self


class Retention(Strict):
    keep: int = Field(default=3, ge=1, le=100, description="Newest versions kept besides those in use")
    pinned: tuple[VersionText, ...] = ()
    grace_days: int = Field(default=14, ge=0, le=365, description="Days between deprecation and deletion")


class ScheduleKind(StrEnum):
    PATCH_TUESDAY = "patch-tuesday"  # second Tuesday of the month + offset_days
    NEW_BASE_IMAGE = "new-base-image"  # when the marketplace base has a newer version
    MANUAL = "manual"


class Schedule(Strict):
    kind: ScheduleKind = ScheduleKind.PATCH_TUESDAY
    offset_days: int = Field(default=7, ge=0, le=20)
    # The source VM takes the month's updates this many days after their release (a prepare run,
    # no image), so the rebuild in the window finds it current (shared/steps/prepare.py).
    prepare_offset_days: int = Field(
        default=0, ge=0, le=20, description="Days after Patch Tuesday's release the source VM takes the updates"
    )

    @model_validator(mode="after")
    def prepare_before_the_window(self) -> Self:
        """A prepare after the rebuild window would not shorten that rebuild: refuse it, say why."""
        if self.kind is ScheduleKind.PATCH_TUESDAY and self.prepare_offset_days >= max(self.offset_days, 1):
            raise ValueError(
                f"prepare_offset_days ({self.prepare_offset_days}) must be less than offset_days "
                f"({self.offset_days}): the source VM takes the month's updates before the rebuild window opens"
            )
        return self


class Gallery(Strict):
    """A workload's image definition in the deployed gallery. `resource_group` and `name` are
    filled from the deployed gallery when the file leaves them out; a file that states them
    must state the deployed ones (checked by `load_catalog`)."""

    resource_group: ResourceGroupName
    name: GalleryName
    definition: DefinitionName

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.resource_group.lower(), self.name.lower(), self.definition.lower())


class Workload(Strict):
    name: WorkloadName
    os_label: OsLabel
    workload_label: WorkloadLabel
    owner: str = Field(min_length=3, max_length=200)
    purpose: str = Field(min_length=10, max_length=2000)
    base_image: BaseImage
    vm_size: str = Field(default="Standard_D4s_v5", pattern=r"^Standard_[A-Za-z0-9_]{2,40}$")
    security_type: SecurityType = SecurityType.TRUSTED_LAUNCH_SUPPORTED
    location: Region
    customizations: tuple[Customization, ...] = ()
    stages: Stages
    retention: Retention = Retention()
    schedule: Schedule = Schedule()
    gallery: Gallery
    host_pools: tuple[HostPoolPolicy, ...] = ()  # AVD host pools this image serves (shared/domain/hostpools.py)

    @model_validator(mode="after")
    def customizations_fit_run_command(self) -> Self:
        total = sum(len(c.script) for c in self.customizations)
        if total > MAX_CUSTOMIZATION_CHARS:
            raise ValueError(
                f"customization scripts total {total} characters; Run Command takes at most "
                f"{MAX_CUSTOMIZATION_CHARS} (move large installers to a script the customization downloads)"
            )
        return self

    @model_validator(mode="after")
    def unique_customizations(self) -> Self:
        names = [c.name for c in self.customizations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"customization names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def unique_host_pools(self) -> Self:
        ids = [p.id.lower() for p in self.host_pools]
        repeated = sorted({p.id for p in self.host_pools if ids.count(p.id.lower()) > 1})
        if repeated:
            raise ValueError(f"host pools must be listed once; repeated: {', '.join(repeated)}")
        return self

    @property
    def bitlocker_note(self) -> str:
        """Why full TrustedLaunch on the definition is a trap for sysprep."""
        if self.security_type is SecurityType.TRUSTED_LAUNCH:
            return (
                "security type TrustedLaunch forces Trusted Launch on every VM and image built from it; "
                "such VMs come with BitLocker on, and sysprep fails (ValidateBitLockerState, 0x80310039) "
                "until the OS volume is FullyDecrypted. TrustedLaunchSupported lets hosts use Trusted "
                "Launch without forcing it on the capture VM; the pipeline decrypts either way."
            )
        return ""


class DisabledWorkload(BaseModel):
    """A workload whose catalog file is invalid: nothing runs for it until the file is fixed."""

    model_config = ConfigDict(frozen=True)
    name: str  # the name the file gives, else the file's stem
    file: str
    issues: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"workload {self.name!r} is disabled: {self.file} is invalid ({'; '.join(self.issues)[:600]})"


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)
    workloads: tuple[Workload, ...]
    disabled: tuple[DisabledWorkload, ...] = ()  # see shared.domain.catalog_isolation

    def get(self, name: str) -> Workload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(w.name == name for w in self.workloads)

    @property
    def names(self) -> list[str]:
        return [w.name for w in self.workloads]


_DEPLOYED_FIELDS = (
    ("resource_group", "resource group", "AVD_IMAGE_RESOURCE_GROUP"),
    ("name", "name", "AVD_GALLERY_NAME"),
)


def _bind_gallery(data: dict[str, Any], file: str, deployed: DeployedGallery) -> list[CatalogIssue]:
    """Fill the deployed gallery into `[gallery]`; a stated resource group or name must be it."""
    section = data.get("gallery")
    if not isinstance(section, dict):
        return []  # missing or malformed: the model reports it
    issues: list[CatalogIssue] = []
    for field, what, setting in _DEPLOYED_FIELDS:
        expected: str = getattr(deployed, field)
        stated = section.get(field)
        if stated is None:
            section[field] = expected
        elif not isinstance(stated, str) or stated.casefold() != expected.casefold():
            issues.append(
                CatalogIssue(
                    file=file,
                    field=f"gallery.{field}",
                    reason=f"{stated!r} is not the deployed gallery's {what} {expected!r} ({setting}); "
                    "leave it out: the app's settings name the gallery",
                )
            )
    return issues


def parse_workload(
    text: str, file: str, deployed: DeployedGallery | None = None
) -> tuple[Workload | None, list[CatalogIssue]]:
    workload, issues, _ = _parse(text, file, deployed)
    return workload, issues


def _parse(
    text: str, file: str, deployed: DeployedGallery | None = None
) -> tuple[Workload | None, list[CatalogIssue], dict[str, Any]]:
    """The workload (or None), its issues, and the raw table (for cross-file checks of invalid files)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return None, [CatalogIssue(file=file, field="(syntax)", reason=str(error))], {}
    bound = _bind_gallery(data, file, deployed or DeployedGallery())
    try:
        workload = Workload.model_validate(data)
    except ValidationError as error:
        return None, bound + [issue(file, e, Workload) for e in error.errors()], data
    return (None, bound, data) if bound else (workload, [], data)


def load_catalog(folder: Path, deployed: DeployedGallery | None = None) -> Catalog:
    """Load every `*.toml` in the folder for the deployed gallery (default: the local one);
    report all errors at once or return the catalog."""
    if not folder.is_dir():
        raise CatalogError([CatalogIssue(file=str(folder), field="(folder)", reason="catalog folder not found")])
    workloads: list[tuple[str, Workload]] = []
    raw: list[tuple[str, dict[str, Any]]] = []
    issues: list[CatalogIssue] = []
    files = sorted(folder.glob("*.toml"))
    if not files:
        issues.append(CatalogIssue(file=str(folder), field="(folder)", reason="no *.toml workload files"))
    for path in files:
        workload, found, data = _parse(path.read_text(encoding="utf-8"), path.name, deployed)
        issues.extend(found)
        raw.append((path.name, data))
        if workload is not None:
            workloads.append((path.name, workload))
    issues.extend(cross_file_issues(raw))
    issues.extend(host_pool_issues(workloads))
    if issues:
        raise CatalogError(issues)
    return Catalog(workloads=tuple(w for _, w in workloads))


def host_pool_issues(workloads: list[tuple[str, Workload]]) -> list[CatalogIssue]:
    """A host pool runs one image: two workloads serving it would re-image it back and forth."""
    issues: list[CatalogIssue] = []
    by_pool: dict[str, str] = {}
    for file, workload in workloads:
        for index, pool in enumerate(workload.host_pools):
            other = by_pool.setdefault(pool.id.lower(), f"workload {workload.name!r} ({file})")
            if not other.startswith(f"workload {workload.name!r}"):
                issues.append(
                    CatalogIssue(
                        file=file,
                        field=f"host_pools[{index}].id",
                        reason=f"host pool {pool.name!r} is already served by {other}; a pool runs one image",
                    )
                )
    return issues

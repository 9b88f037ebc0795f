"""What a reconcile pass found for one workload: the records compared with the gallery."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class WorkloadHealth(BaseModel):
    """Kept in its own row (upserted), so writing it never races a step's commit."""

    workload: str
    checked_at: datetime  # when this result was first found (rewritten only when it changes)
    repairs: tuple[str, ...] = ()  # safe repairs of one pass; stored empty (they are in the audit trail)
    flags: tuple[str, ...] = ()  # what needs a person: no safe repair exists
    unknown_versions: tuple[str, ...] = ()  # gallery versions in our definition that no record owns
    disabled: str = ""  # the workload's catalog file is invalid: why

    @property
    def healthy(self) -> bool:
        return not self.flags and not self.unknown_versions and not self.disabled

    def same_findings(self, other: WorkloadHealth | None) -> bool:
        """Whether `other` found the same (the repairs and the time aside)."""
        return other is not None and (self.flags, self.unknown_versions, self.disabled) == (
            other.flags,
            other.unknown_versions,
            other.disabled,
        )

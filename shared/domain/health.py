"""What a reconcile pass found for one workload: the records compared with the gallery."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class WorkloadHealth(BaseModel):
    """Kept in its own row (upserted), so writing it never races a step's commit."""

    workload: str
    checked_at: datetime
    repairs: tuple[str, ...] = ()  # safe repairs applied in this pass (also in the audit trail)
    flags: tuple[str, ...] = ()  # what needs a person: no safe repair exists
    unknown_versions: tuple[str, ...] = ()  # gallery versions in our definition that no record owns
    disabled: str = ""  # the workload's catalog file is invalid: why

    @property
    def healthy(self) -> bool:
        return not self.flags and not self.unknown_versions and not self.disabled

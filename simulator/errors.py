"""Azure-shaped errors raised by backends and serialized by the response layer."""

from __future__ import annotations

from typing import Any

_STATUS_BY_CODE = {
    "ResourceNotFound": 404,
    "NotFound": 404,
    "ResourceGroupNotFound": 404,
    "ParentResourceNotFound": 404,
    "GalleryImageNotFound": 404,
    "Conflict": 409,
    "OperationNotAllowed": 409,
    "PropertyChangeNotAllowed": 409,
    "InvalidParameter": 400,
    "BadRequest": 400,
    "InvalidRequestContent": 400,
    "InvalidResourceReference": 400,
    "NicInUse": 400,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "InternalExecutionError": 500,
    "ServiceUnavailable": 503,
}


def status_for_code(code: str) -> int:
    """HTTP status Azure uses for an error code (500 when unknown)."""
    return _STATUS_BY_CODE.get(code, 500)


class ArmError(Exception):
    """An error with an Azure error code; the response layer turns it into ``{"error": ...}``."""

    def __init__(self, code: str, message: str, status: int | None = None, target: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else status_for_code(code)
        self.target = target

    def __reduce__(self) -> tuple[type[ArmError], tuple[str, str, int | None, str | None]]:
        """Pickled with its own arguments (the demo saves failed operations with their error)."""
        return (type(self), (self.code, self.message, self.status, self.target))

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


def not_found(resource_type: str, name: str, rg: str) -> ArmError:
    return ArmError(
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )

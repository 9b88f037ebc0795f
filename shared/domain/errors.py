"""Domain errors: each says what is wrong and where, in words an admin can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the product makes on purpose."""


class InvalidInput(DomainError, ValueError):
    """A name, version or message field failed validation before reaching storage or Azure."""


class TransitionRefused(DomainError):
    """The version state machine does not allow this change, or a promotion criterion is unmet."""


class ConcurrencyConflict(DomainError):
    """Someone else changed the record since it was read; re-read and decide again."""


class RecordNotFound(DomainError):
    """The workload, version or run has no record."""


TRANSIENT_CODES = frozenset(
    {"TooManyRequests", "Throttled", "RetryableError", "InternalServerError", "ServiceUnavailable", "GatewayTimeout"}
)


class AzureOperationError(DomainError):
    """An Azure call failed; keeps Azure's error code, message and HTTP status."""

    def __init__(self, operation: str, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        self.azure_message = message
        self.status = status

    @property
    def transient(self) -> bool:
        """Throttling and server errors pass; azure-core already retried a few times, we wait longer."""
        return self.code in TRANSIENT_CODES or self.status == 429 or (self.status is not None and self.status >= 500)


class RequestRefused(DomainError):
    """A request that can never succeed as sent (unknown workload, unauthorized approver ...).

    The refusal is recorded; entry points dead-letter the message with this reason.
    """

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


class AzureOperationError(DomainError):
    """An Azure call failed; keeps Azure's error code and message."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        self.azure_message = message


class RequestRefused(DomainError):
    """A request that can never succeed as sent (unknown workload, unauthorized approver ...).

    The refusal is recorded; entry points dead-letter the message with this reason.
    """

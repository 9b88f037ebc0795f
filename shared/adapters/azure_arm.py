"""What every part of the compute adapter shares: its clients, Azure errors as domain errors, and
the Retry-After Azure answers an operation's start with.

Requests and responses are handled as ARM REST JSON (the SDK models are mappings of it), so
what is sent reads like the REST reference. Retries are azure-core's RetryPolicy, which
honours Retry-After on 429 and 5xx; nothing here loops on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError

from shared.domain.compute import OperationState
from shared.domain.errors import AzureOperationError

if TYPE_CHECKING:  # the SDKs are imported on first use: a function that never calls ARM never loads them
    from azure.core.pipeline import PipelineResponse
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient


def compute_models() -> Any:
    from azure.mgmt.compute import models

    return models


def network_models() -> Any:
    from azure.mgmt.network import models

    return models


def as_json(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if hasattr(model, "as_dict"):
        result: dict[str, Any] = model.as_dict()
        return result
    return dict(model)


def provisioning(value: str | None) -> OperationState:
    text = (value or "").lower()
    if text == "succeeded":
        return OperationState.SUCCEEDED
    if text in ("failed", "canceled"):
        return OperationState.FAILED
    return OperationState.IN_PROGRESS


@contextmanager
def azure_errors(operation: str) -> Iterator[None]:
    """Azure errors become domain errors that keep Azure's code and message."""
    try:
        yield
    except HttpResponseError as error:  # ResourceNotFoundError (404) too: a resource that vanished
        code = (error.error.code if error.error is not None else None) or str(error.status_code or "HttpError")
        message = (error.error.message if error.error is not None else None) or str(error.message)
        raise AzureOperationError(operation, code, message, error.status_code) from None


def retry_after_seconds(headers: Any) -> float | None:
    """The Retry-After of a response in seconds; None when absent, unreadable or 0 ("not given")."""
    text = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(str(text).strip()) if text is not None else 0.0
    except ValueError:  # an HTTP date: ARM answers LRO starts in seconds, anything else is ignored
        return None
    return seconds if seconds > 0 else None


class ArmClients:
    """The clients (built on first use: the Functions host imports modules to index them), the
    image resource group, and the Retry-After of the last operation started through them."""

    subscription_id: str
    resource_group: str
    retry_after: float | None
    _client_kwargs: Callable[[], dict[str, Any]]
    _compute: ComputeManagementClient | None
    _network: NetworkManagementClient | None

    @property
    def compute(self) -> ComputeManagementClient:
        if self._compute is None:
            from azure.mgmt.compute import ComputeManagementClient

            self._compute = ComputeManagementClient(**self._client_kwargs())
        return self._compute

    @property
    def network(self) -> NetworkManagementClient:
        if self._network is None:
            from azure.mgmt.network import NetworkManagementClient

            self._network = NetworkManagementClient(**self._client_kwargs())
        return self._network

    def id_of(self, resource_type: str, name: str) -> str:
        group = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        return f"{group}/providers/{resource_type}/{name}"

    def started(self) -> dict[str, Any]:
        """Keyword arguments for an LRO start: no polling, and its Retry-After noted (raw_response_hook)."""
        self.retry_after = None
        return {"polling": False, "raw_response_hook": self._note_retry_after}

    def _note_retry_after(self, response: PipelineResponse[Any, Any]) -> None:
        self.retry_after = retry_after_seconds(response.http_response.headers)

"""Managed Run Commands (`virtualMachines/{vm}/runCommands/{name}`) over azure-mgmt-compute.

Used for every script whose output can exceed action Run Command's 4,096 bytes or whose exit
code matters (inventory, customizations, Windows Update). The full stdout/stderr go to append
blobs in the app's storage account: the product creates each blob and hands the VM agent a
short-lived SAS for it (Microsoft Learn, managed Run Commands: "SAS URLs must provide read,
append, create, write access"). In Azure the SAS is a user delegation SAS signed with the app's
managed identity (Storage Blob Data Contributor on the container); locally, Azurite's
development key signs it. Without a blob store the instance view's output is used, which Azure
cuts to its last 4 KB: that is reported as truncated, never silently parsed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import ResourceNotFoundError

from shared.domain.compute import ManagedScriptResult
from shared.domain.errors import AzureOperationError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.storage.blob import BlobServiceClient

INSTANCE_VIEW_LIMIT = 4096
FINISHED = frozenset({"Succeeded", "Failed", "TimedOut", "Canceled"})
SAS_SLACK = timedelta(hours=2)  # the SAS outlives the script's own timeout by this much


class BlobRunOutput:
    """Append blobs for one Run Command's stdout and stderr, and SAS URLs the VM agent writes with."""

    def __init__(self, service: Callable[[], BlobServiceClient], container: str) -> None:
        self._service_factory = service
        self._service: BlobServiceClient | None = None
        self.container = container
        self._container_ready = False

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str) -> BlobRunOutput:
        def make() -> BlobServiceClient:
            from azure.storage.blob import BlobServiceClient

            return BlobServiceClient.from_connection_string(connection_string)

        return cls(make, container)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: TokenCredential, container: str) -> BlobRunOutput:
        def make() -> BlobServiceClient:
            from azure.storage.blob import BlobServiceClient

            return BlobServiceClient(endpoint, credential=credential)

        return cls(make, container)

    @property
    def service(self) -> BlobServiceClient:
        if self._service is None:
            self._service = self._service_factory()
        return self._service

    def _blob(self, vm_name: str, name: str, token: str, stream: str) -> str:
        return f"{vm_name}/{name}/{token}/{stream}.log"

    def prepare(self, vm_name: str, name: str, lifetime: timedelta) -> tuple[str, str]:
        """Create (or empty) the two append blobs and return their write SAS URLs."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        container = self.service.get_container_client(self.container)
        if not self._container_ready:
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
            self._container_ready = True
        expiry = datetime.now(UTC) + lifetime
        permission = BlobSasPermissions(read=True, add=True, create=True, write=True)
        account_key = getattr(self.service.credential, "account_key", None)
        delegation: Any = None
        if not account_key:
            delegation = self.service.get_user_delegation_key(datetime.now(UTC) - timedelta(minutes=5), expiry)
        urls = []
        token = uuid.uuid4().hex[:16]  # each execution writes blobs of its own
        for stream in ("stdout", "stderr"):
            blob = container.get_blob_client(self._blob(vm_name, name, token, stream))
            blob.create_append_blob()
            sas = generate_blob_sas(
                account_name=str(self.service.account_name),
                container_name=self.container,
                blob_name=blob.blob_name,
                account_key=account_key,
                user_delegation_key=delegation,
                permission=permission,
                expiry=expiry,
            )
            urls.append(f"{blob.url}?{sas}")
        return urls[0], urls[1]

    def read(self, uri: str) -> str:
        """The text of the blob a run command wrote to (its URI as the run command reports it)."""
        if not uri:
            return ""
        path = urlsplit(uri).path.lstrip("/")
        if path.startswith(f"{self.service.account_name}/"):  # Azurite's path-style URLs
            path = path.split("/", 1)[1]
        container, _, blob_name = path.partition("/")
        blob = self.service.get_blob_client(container, unquote(blob_name))
        try:
            return blob.download_blob().readall().decode("utf-8", errors="replace")
        except ResourceNotFoundError:
            return ""


class ManagedRunCommands:
    def __init__(
        self,
        compute: Callable[[], ComputeManagementClient],
        resource_group: str,
        output: BlobRunOutput | None,
        on_start: Callable[[Any], None] | None = None,
    ) -> None:
        self._compute = compute
        self.resource_group = resource_group
        self.output = output
        self._on_start = on_start  # sees the PUT's response (its Retry-After)

    def start(self, vm_name: str, name: str, script: str, timeout: timedelta, location: str) -> None:
        """PUT the run command without waiting for it.

        Not asyncExecution: the PUT then ends when the script ends, so its completion (and the
        ARM event about it) says the result is ready; the timeout still bounds the script.
        """
        from azure.core.exceptions import HttpResponseError

        properties: dict[str, Any] = {
            "source": {"script": script.strip()},
            "asyncExecution": False,
            "timeoutInSeconds": int(timeout.total_seconds()),
            "treatFailureAsDeploymentFailure": False,
        }
        if self.output is not None:
            out, err = self.output.prepare(vm_name, name, timeout + SAS_SLACK)
            properties["outputBlobUri"] = out
            properties["errorBlobUri"] = err
        from azure.mgmt.compute import models

        body = models.VirtualMachineRunCommand({"location": location, "properties": properties})
        try:
            hook: dict[str, Any] = {"raw_response_hook": self._on_start} if self._on_start else {}
            self._compute().virtual_machine_run_commands.begin_create_or_update(
                self.resource_group, vm_name, name, body, polling=False, **hook
            )
        except HttpResponseError as error:
            raise _domain(error, f"start Run Command {name} on {vm_name}") from None

    def result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        """The finished run command's result, or None while it is pending or running."""
        from azure.core.exceptions import HttpResponseError

        what = f"read Run Command {name} on {vm_name}"
        try:
            found = self._compute().virtual_machine_run_commands.get_by_virtual_machine(
                self.resource_group, vm_name, name, expand="instanceView"
            )
        except ResourceNotFoundError:
            raise AzureOperationError(what, "NotFound", f"Run Command {name} no longer exists on {vm_name}") from None
        except HttpResponseError as error:
            raise _domain(error, what) from None
        data = found.as_dict() if hasattr(found, "as_dict") else dict(found)
        props = data.get("properties") or data
        view = props.get("instanceView") or props.get("instance_view") or {}
        state = str(view.get("executionState") or view.get("execution_state") or "Unknown")
        if state not in FINISHED:
            return None
        stdout = str(view.get("output") or "")
        stderr = str(view.get("error") or "")
        truncated = False
        out_uri = props.get("outputBlobUri") or props.get("output_blob_uri")
        if self.output is not None and out_uri:
            stdout = self.output.read(str(out_uri))
            stderr = self.output.read(str(props.get("errorBlobUri") or props.get("error_blob_uri") or ""))
        else:
            truncated = max(len(stdout.encode()), len(stderr.encode())) >= INSTANCE_VIEW_LIMIT
        exit_code = view.get("exitCode", view.get("exit_code"))
        started = view.get("startTime", view.get("start_time"))
        if isinstance(started, str):
            started = datetime.fromisoformat(started.replace("Z", "+00:00"))
        return ManagedScriptResult(
            state=state,
            exit_code=int(exit_code) if exit_code is not None else None,
            stdout=stdout,
            stderr=stderr,
            message=str(view.get("executionMessage") or view.get("execution_message") or ""),
            truncated=truncated,
            started=started if isinstance(started, datetime) else None,
        )


def _domain(error: Any, operation: str) -> AzureOperationError:
    code = (error.error.code if error.error is not None else None) or str(error.status_code or "HttpError")
    message = (error.error.message if error.error is not None else None) or str(error.message)
    return AzureOperationError(operation, code, message, error.status_code)

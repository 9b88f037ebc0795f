"""Run Command operations of the compute adapter: the action Run Command and managed run commands."""

from __future__ import annotations

from datetime import timedelta

from azure.core.rest import HttpRequest, HttpResponse

from shared.adapters.azure_arm import ArmClients, retry_after_seconds
from shared.adapters.run_commands import ManagedRunCommands
from shared.domain.compute import ManagedScriptResult, ScriptResult
from shared.domain.errors import AzureOperationError

RUN_COMMAND = "RunPowerShellScript"
RUN_COMMAND_API = "2026-04-01"  # the SDK's api-version for virtualMachines/runCommand


class ScriptOperations(ArmClients):
    run_commands: ManagedRunCommands

    def start_script(self, vm_name: str, script: str) -> str:
        """POST the Run Command action and return its result URL (the Location header).

        Sent with the client's own pipeline (auth, retries, logging) rather than the typed
        `begin_run_command`, whose poller would wait for the script to finish.
        """
        url = self.id_of("Microsoft.Compute/virtualMachines", vm_name) + "/runCommand"
        body = {"commandId": RUN_COMMAND, "script": script.strip().splitlines()}
        request = HttpRequest("POST", url, params={"api-version": RUN_COMMAND_API}, json=body)
        response = self._send(request, f"Run Command on {vm_name}")
        self.retry_after = retry_after_seconds(response.headers)
        location = response.headers.get("Location") or response.headers.get("Azure-AsyncOperation")
        if response.status_code == 200 or not location:
            raise AzureOperationError(f"Run Command on {vm_name}", "UnexpectedResponse", "no operation to follow")
        return str(location)

    def script_result(self, operation: str) -> ScriptResult | None:
        response = self._send(HttpRequest("GET", operation), "read Run Command result")
        if response.status_code == 202:
            return None
        stdout = stderr = ""
        for item in (response.json() or {}).get("value", []):
            if "StdOut" in item.get("code", ""):
                stdout += item.get("message", "")
            elif "StdErr" in item.get("code", ""):
                stderr += item.get("message", "")
        return ScriptResult(stdout=stdout, stderr=stderr)

    def _send(self, request: HttpRequest, operation: str) -> HttpResponse:
        response = self.compute.send_request(request)
        if response.status_code >= 400:
            try:
                error = (response.json() or {}).get("error", {})
            except ValueError:
                error = {}
            code = str(error.get("code") or response.status_code)
            raise AzureOperationError(
                operation, code, str(error.get("message") or response.text()[:500]), response.status_code
            )
        return response

    def start_managed_script(self, vm_name: str, name: str, script: str, timeout: timedelta, location: str) -> None:
        self.run_commands.start(vm_name, name, script, timeout, location)

    def managed_script_result(self, vm_name: str, name: str) -> ManagedScriptResult | None:
        return self.run_commands.result(vm_name, name)

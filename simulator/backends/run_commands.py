"""Run Command, both kinds, on the simulated Windows guest.

Action Run Command (POST `virtualMachines/{vm}/runCommand`), per Microsoft Learn "Run scripts
in your Windows VM by using action Run Commands": output limited to the last 4,096 bytes, at most
90 minutes, one script at a time, as SYSTEM, no exit code.

Managed Run Commands (`virtualMachines/{vm}/runCommands/{name}`), per Microsoft Learn "Run
scripts in your Windows VM by using managed Run Commands" and the ComputeRP spec examples
`runCommandExamples/VirtualMachineRunCommand_*.json`: asyncExecution, timeoutInSeconds (default
90 minutes), an instance view with executionState / exitCode / startTime / endTime, output and
error in the instance view limited to the last 4 KB, and the full streams appended to
`outputBlobUri` / `errorBlobUri` (append blobs, created when missing).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from simulator.backends.base import AsyncOperation, Context, Resource, iso
from simulator.backends.guest_script import ScriptResult, estimate_seconds, run_script
from simulator.errors import ArmError, not_found

if TYPE_CHECKING:
    from simulator.backends.compute.state import ComputeState, VirtualMachine

OUTPUT_LIMIT_BYTES = 4096
ACTION_TIMEOUT_S = 90 * 60
MANAGED_DEFAULT_TIMEOUT_S = 90 * 60
RUN_COMMAND_TYPE = "Microsoft.Compute/virtualMachines/runCommands"
TIMEOUT_MESSAGE = (
    "Provisioning of VM extension 'RunCommandWindows' has timed out. Extension installation may be taking "
    "too long, or extension status could not be obtained."
)
BUSY_MESSAGE = (
    "Run command extension execution is in progress. Please wait for completion before invoking a run command."
)

BlobWriter = Callable[[str, str], None]


def tail_bytes(text: str, limit: int = OUTPUT_LIMIT_BYTES) -> str:
    """The last ``limit`` bytes of ``text`` (UTF-8), as Run Command returns them."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


def _require_running(vm: VirtualMachine, name: str, operation: str) -> None:
    if vm.res.provisioning_state in ("Creating", "Deleting") or vm.power_state != "running":
        raise ArmError(
            "OperationNotAllowed",
            f"Operation '{operation}' is not allowed on VM '{name}' since the VM is "
            f"{'deallocated' if vm.power_state == 'deallocated' else 'not running'}. "
            "The operation requires the VM to be running.",
        )


def _execute(compute: ComputeState, vm: VirtualMachine, script: list[str]) -> ScriptResult:
    guest = compute.guest_of(vm)
    if guest is None:
        raise ArmError("VMAgentStatusCommunicationError", "VM has reported a failure when processing extension.")
    ctx = compute.ctx
    fault = ctx.faults.take_sysprep_failure() if any("sysprep.exe" in s.lower() for s in script) else None
    result = run_script(guest, script, ctx.now(), ctx.durations, fault)
    compute.schedule_guest(guest, vm)
    return result


def action_run_command(compute: ComputeState, rg: str, name: str, body: dict[str, Any]) -> AsyncOperation:
    """POST runCommand: the script runs at once; its (cut) output is the LRO's result."""
    vm = compute.get_vm(rg, name)
    _require_running(vm, name, "runCommand")
    if vm.run_command is not None and not vm.run_command.done:
        raise ArmError("Conflict", BUSY_MESSAGE)
    command_id = body.get("commandId") or ""
    if not command_id:
        raise ArmError("InvalidParameter", "Required parameter 'commandId' is missing (null).", target="commandId")
    script = [str(line) for line in body.get("script") or []]
    if command_id.lower() == "ipconfig":
        script = ["ipconfig /all"]
    elif command_id.lower() != "runpowershellscript":
        raise ArmError(
            "InvalidParameter",
            f"Command '{command_id}' is not supported on this VM (supported: RunPowerShellScript, ipconfig).",
            target="commandId",
        )
    ctx = compute.ctx
    # Effects apply when the agent runs the script; how long it runs is known from what it does.
    # The agent reports `run_command_report` seconds later (default 0: at once); an agent that
    # goes down with its VM before reporting (sysprep /shutdown) never sends the terminal
    # status, so the operation fails instead of returning output.
    seconds = min(ctx.seconds("run_command") + estimate_seconds(script, ctx.durations), ACTION_TIMEOUT_S)
    timed_out = ctx.seconds("run_command") + estimate_seconds(script, ctx.durations) > ACTION_TIMEOUT_S
    report_delay = ctx.seconds("run_command_report")
    executed: list[ScriptResult] = []

    def execute() -> None:
        if compute.guest_of(vm) is None or executed:
            return
        executed.append(_execute(compute, vm, script))

    def report() -> dict[str, Any]:
        execute()
        if not executed:
            raise ArmError("VMAgentStatusCommunicationError", "VM has reported a failure when processing extension.")
        if report_delay > 0 and vm.power_state != "running":  # it went down between running and reporting
            raise ArmError(
                "VMAgentStatusCommunicationError",
                f"VM '{name}' stopped before its agent reported the result of the run command.",
            )
        if timed_out:
            raise ArmError("VMExtensionProvisioningTimeout", TIMEOUT_MESSAGE)
        result = executed[0]
        return {
            "value": [
                {
                    "code": "ComponentStatus/StdOut/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                    "message": tail_bytes(result.stdout),
                },
                {
                    "code": "ComponentStatus/StdErr/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                    "message": tail_bytes(result.stderr),
                },
            ]
        }

    if report_delay > 0:
        ctx.clock.schedule_in(seconds, execute)
    op = ctx.start_operation(
        "Microsoft.Compute/virtualMachines/runCommand/action",
        vm.res.id,
        vm.res.location,
        seconds + report_delay,
        kind="Action",
        http_method="POST",
        on_success=report,
    )
    vm.run_command = op
    return op


@dataclass
class ManagedRunCommand:
    res: Resource
    vm_id: str
    properties: dict[str, Any]
    state: str = "Pending"
    exit_code: int | None = None
    output: str = ""
    error: str = ""
    message: str = ""
    start: datetime | None = None
    end: datetime | None = None
    operation: AsyncOperation | None = None
    blob_failures: list[str] = field(default_factory=list)


_KNOWN_PROPERTIES = {
    "source",
    "parameters",
    "protectedParameters",
    "asyncExecution",
    "runAsUser",
    "runAsPassword",
    "timeoutInSeconds",
    "outputBlobUri",
    "errorBlobUri",
    "outputBlobManagedIdentity",
    "errorBlobManagedIdentity",
    "treatFailureAsDeploymentFailure",
}


class RunCommandsBackend:
    """`virtualMachines/{vm}/runCommands/{name}`: PUT starts a script, GET reports it."""

    def __init__(self, ctx: Context, compute: ComputeState, blob_writer: BlobWriter | None = None) -> None:
        self.ctx = ctx
        self.compute = compute
        self.items: dict[str, ManagedRunCommand] = {}
        self.blob_writer: BlobWriter = blob_writer or append_to_blob

    def _id(self, rg: str, vm: str, name: str) -> str:
        return self.ctx.resource_id(rg, f"Microsoft.Compute/virtualMachines/{vm}/runCommands/{name}")

    def get(self, rg: str, vm: str, name: str) -> ManagedRunCommand:
        self.compute.get_vm(rg, vm)
        found = self.items.get(self._id(rg, vm, name).lower())
        if found is None:
            raise not_found(RUN_COMMAND_TYPE, f"{vm}/{name}", rg)
        return found

    def list(self, rg: str, vm: str) -> list[ManagedRunCommand]:
        vm_id = self.compute.get_vm(rg, vm).res.id.lower()
        return [r for r in self.items.values() if r.vm_id.lower() == vm_id]

    def put(
        self, rg: str, vm_name: str, name: str, body: dict[str, Any]
    ) -> tuple[ManagedRunCommand, AsyncOperation, bool]:
        vm = self.compute.get_vm(rg, vm_name)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ArmError(
                "InvalidParameter", "Required parameter 'properties' is missing (null).", target="properties"
            )
        if not body.get("location"):
            raise ArmError("InvalidParameter", "Required parameter 'location' is missing (null).", target="location")
        unknown = sorted(set(props) - _KNOWN_PROPERTIES)
        if unknown:
            raise ArmError(
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: Could not find member "
                f"'{unknown[0]}' on object of type 'VirtualMachineRunCommandProperties'.",
                400,
            )
        source = props.get("source") or {}
        script_text = source.get("script")
        if not script_text and not source.get("commandId") and not source.get("scriptUri"):
            raise ArmError(
                "InvalidParameter",
                "Either 'source.script', 'source.scriptUri' or 'source.commandId' must be specified.",
                target="source",
            )
        timeout = props.get("timeoutInSeconds", 0) or MANAGED_DEFAULT_TIMEOUT_S
        if not isinstance(timeout, int) or timeout < 0:
            raise ArmError(
                "InvalidParameter", "'timeoutInSeconds' must be a non-negative integer.", target="timeoutInSeconds"
            )
        rid = self._id(rg, vm_name, name)
        existing = self.items.get(rid.lower())
        if existing is not None and existing.state in ("Pending", "Running"):
            raise ArmError("Conflict", BUSY_MESSAGE)
        _require_running(vm, vm_name, "runCommands/write")
        res = Resource(
            rid, name, RUN_COMMAND_TYPE, vm.res.location, rg, dict(body.get("tags") or {}), "Creating", self.ctx.now()
        )
        stored = {k: v for k, v in props.items() if k not in ("runAsPassword", "protectedParameters")}
        rc = ManagedRunCommand(res, vm.res.id, stored)
        self.items[rid.lower()] = rc
        lines = str(script_text or "").splitlines()
        # The script's effects are decided now; its state, output and exit code show on the clock.
        result = _execute(self.compute, vm, lines)
        start = self.ctx.now() + timedelta(seconds=self.ctx.seconds("run_command_start"))
        timed_out = max(result.seconds, 1.0) > timeout
        end = start + timedelta(seconds=min(max(result.seconds, 1.0), timeout))
        rc.start = start
        self.ctx.clock.schedule(start, lambda: self._running(rc))
        finish = functools.partial(self._end, rc, result, timed_out)
        operation = "Microsoft.Compute/virtualMachines/runCommands/write"
        if props.get("asyncExecution"):
            # asyncExecution: provisioning completes as soon as the script starts.
            op = self.ctx.start_operation(
                operation,
                rid,
                vm.res.location,
                0,
                kind="Write",
                http_method="PUT",
                on_success=lambda: self._provisioned(rc),
                due=start,
            )
            self.ctx.clock.schedule(end, lambda: self._ignore(finish()))
        else:
            op = self.ctx.start_operation(
                operation, rid, vm.res.location, 0, kind="Write", http_method="PUT", on_success=finish, due=end
            )
        rc.operation = op
        return rc, op, existing is None

    @staticmethod
    def _ignore(_: object) -> None:
        return None

    def _running(self, rc: ManagedRunCommand) -> None:
        if rc.state == "Pending":
            rc.state = "Running"

    def _end(self, rc: ManagedRunCommand, result: ScriptResult, timed_out: bool) -> dict[str, Any] | None:
        if rc.res.id.lower() not in self.items:
            return None  # deleted: the script was stopped
        rc.end = self.ctx.now()
        rc.output, rc.error = result.stdout, result.stderr
        if result.report_at_end is not None:  # read after waiting (sysprep): the guest as it is now
            rc.output = "\n".join(o for o in (result.stdout, *result.report_at_end(rc.end)) if o)
        if timed_out:
            rc.state, rc.exit_code = "TimedOut", None
            limit = rc.properties.get("timeoutInSeconds") or MANAGED_DEFAULT_TIMEOUT_S
            rc.message = f"Execution timed out after {limit} seconds."
        else:
            rc.exit_code = result.exit_code
            rc.state = "Succeeded" if result.exit_code == 0 else "Failed"
        for key, text in (("outputBlobUri", rc.output), ("errorBlobUri", rc.error)):
            uri = rc.properties.get(key)
            if uri:
                try:
                    self.blob_writer(str(uri), text)
                except Exception as error:  # any storage failure is reported, not raised
                    rc.blob_failures.append(f"{key}: {type(error).__name__}")
                    rc.message = f"Failed to upload script output to {key}."
        rc.res.provisioning_state = "Succeeded"
        failure = self._deployment_failure(rc)
        if failure is not None and rc.operation is not None and not rc.operation.done:
            rc.res.provisioning_state = "Failed"
            raise failure
        return None

    def _deployment_failure(self, rc: ManagedRunCommand) -> ArmError | None:
        if rc.state in ("Failed", "TimedOut") and rc.properties.get("treatFailureAsDeploymentFailure"):
            return ArmError(
                "VMExtensionProvisioningError", f"Run command execution {rc.state}: {tail_bytes(rc.error, 1024)}"
            )
        return None

    def _provisioned(self, rc: ManagedRunCommand) -> dict[str, Any] | None:
        rc.res.provisioning_state = "Succeeded"
        return None

    def delete(self, rg: str, vm: str, name: str) -> bool:
        """Deleting a run command stops a script still running (Learn: managed Run Commands)."""
        self.compute.get_vm(rg, vm)
        rc = self.items.pop(self._id(rg, vm, name).lower(), None)
        if rc is None:
            return False
        if rc.operation is not None and not rc.operation.done:
            rc.operation.due = self.ctx.now()
            self.ctx.complete_operation(rc.operation, ArmError("OperationPreempted", "The run command was deleted."))
        return True

    def body(self, rc: ManagedRunCommand, expand_instance_view: bool = False) -> dict[str, Any]:
        body = rc.res.envelope()
        props: dict[str, Any] = {"provisioningState": rc.res.provisioning_state, **rc.properties}
        props.setdefault("asyncExecution", False)
        props.setdefault("treatFailureAsDeploymentFailure", False)
        if expand_instance_view:
            view: dict[str, Any] = {
                "executionState": rc.state,
                "executionMessage": rc.message,
                "output": tail_bytes(rc.output),
                "error": tail_bytes(rc.error),
                "statuses": [],
            }
            if rc.exit_code is not None:
                view["exitCode"] = rc.exit_code
            if rc.start is not None:
                view["startTime"] = iso(rc.start)
            if rc.end is not None:
                view["endTime"] = iso(rc.end)
            props["instanceView"] = view
        body["properties"] = props
        return body


def append_to_blob(uri: str, text: str) -> None:
    """Append ``text`` to the append blob at a SAS ``uri``, creating it when missing (as the VM agent does)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobClient

    client = BlobClient.from_blob_url(uri)
    with contextlib.suppress(ResourceExistsError):
        client.create_append_blob(if_none_match="*")
    data = text.encode("utf-8")
    chunk = 4 * 1024 * 1024  # the largest block an append blob takes
    for offset in range(0, len(data), chunk):
        client.append_block(data[offset : offset + chunk])

"""The app, the Bicep and local.settings.sample.json agree: every connection, queue, %setting% and
AVD_ setting the functions use is deployed (and in the local sample), and every deployed setting is
used by the code, the Functions host or the Azure SDK.

infra/app-settings.json is the Bicep's list of app settings (test_infra.py keeps the two identical).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from shared.config import APPROVAL_QUEUE, SERVICE_BUS_CONNECTION, STEP_QUEUE, Settings
from tests.functions.conftest import REGISTERED  # get_functions() may run once per process
from tests.infra.test_infra import param_default, parsed, tree

__all__ = ["parsed"]  # the pycep fixture, shared with test_infra.py

REPO = Path(__file__).resolve().parents[2]
PERCENT_SETTING = re.compile(r"^%(?P<name>[^%]+)%$")
SETTINGS_PREFIX = "AVD_"

# Read by the Functions host, its extensions or the Azure SDK, not by our code:
HOST_OWNED = {
    # identity-based AzureWebJobsStorage: the host's leases, timers and keys
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    # the Service Bus extension's identity (the namespace is checked as the bindings' connection)
    "ServiceBusConnection__credential",
    "ServiceBusConnection__clientId",
    # DefaultAzureCredential (ARM and Table Storage clients) picks the user-assigned identity
    "AZURE_CLIENT_ID",
    # the host's Application Insights telemetry, Entra ID-authenticated
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

# Settings fields that the deployment may leave out, and why:
NOT_DEPLOYED = {
    "arm_endpoint": "defaults to public Azure (https://management.azure.com); set only in sovereign clouds",
    "tables_connection_string": "local only (Azurite's development key); Azure uses AVD_TABLES_ENDPOINT",
    "blobs_connection_string": "local only (Azurite's development key); Azure uses AVD_BLOBS_ENDPOINT",
    "temp_resource_ttl_hours": "tuning knob with a safe default (24); set as an app setting only to override",
    "bitlocker_timeout_minutes": "tuning knob with a safe default (180); set as an app setting only to override",
    "deprecation_grace_days": "tuning knob with a safe default (30); catalog retention usually sets grace_days",
    "reconcile_per_sweep": "tuning knob with a safe default (4 workloads per sweep); raise it for faster coverage",
    "event_grid": "defaults to true: infra always subscribes the app to ARM events; false only in local runs",
    "approvals_app_id_uri": "defaults to api://<client id>; set only when the app registration uses another URI",
    "entra_authority": "defaults to https://login.microsoftonline.com; set only in sovereign clouds",
    "token_leeway_seconds": "tuning knob with a safe default (120 s of clock skew on exp/nbf)",
    "approval_valid_hours": "tuning knob with a safe default (72): how long a first approval waits for a second",
    "rollback_window_minutes": "tuning knob with a safe default (20): how recent a rollback's requested_at must be",
    "operator_credential": "read by the avdimage CLI on the operator's machine, not by the app",
}

# In local.settings.sample.json but not in Azure: Flex Consumption takes the worker runtime from
# functionAppConfig.runtime and refuses FUNCTIONS_WORKER_RUNTIME as an app setting.
LOCAL_ONLY = {"FUNCTIONS_WORKER_RUNTIME"}
DEAD_LETTER_SUBQUEUE = "$DeadLetterQueue"  # Service Bus: every queue has one; functions/dead_letters.py


def deployed_settings() -> set[str]:
    return set(json.loads((REPO / "infra" / "app-settings.json").read_text(encoding="utf-8")))


def sample_settings() -> set[str]:
    document = json.loads((REPO / "local.settings.sample.json").read_text(encoding="utf-8"))
    return set(document["Values"])


def bindings() -> list[dict[str, Any]]:
    """Every binding of every registered function, with the function's name added."""
    found = []
    for name, function in REGISTERED.items():
        for binding in json.loads(function.get_function_json())["bindings"]:
            found.append({"function": name, **binding})
    return found


def connection_settings(connection: str) -> set[str]:
    """The settings that satisfy a binding's connection: the identity-based form, by namespace."""
    return {f"{connection}__fullyQualifiedNamespace"}


def referenced_settings() -> set[str]:
    """Settings the bindings name: connections and %NAME% expressions (timer schedules, queue names)."""
    names: set[str] = set()
    for binding in bindings():
        if "connection" in binding:
            names |= connection_settings(binding["connection"])
        for value in binding.values():
            match = PERCENT_SETTING.match(value) if isinstance(value, str) else None
            if match:
                names.add(match["name"])
    return names


def code_settings() -> set[str]:
    """The environment names of the pydantic Settings fields (prefix AVD_)."""
    return {SETTINGS_PREFIX + field.upper() for field in Settings.model_fields}


def bicep_queues(parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The queues servicebus.bicep declares, by deployed name, with their properties."""
    relative = "modules/servicebus.bicep"
    queues = {}
    for resource in tree(parsed, relative)["resources"].values():
        if resource["type"] == "Microsoft.ServiceBus/namespaces/queues":
            config = resource["config"]
            queues[param_default(parsed, relative, config["name"])] = config["properties"]
    return queues


def test_the_app_registers_bindings_to_check() -> None:
    """The functions app registers the Service Bus, Event Grid and timer triggers this module checks."""
    types = {binding["type"] for binding in bindings()}
    assert {"serviceBusTrigger", "eventGridTrigger", "timerTrigger"} <= types
    assert {b["queueName"] for b in bindings() if "queueName" in b} == {
        STEP_QUEUE,
        APPROVAL_QUEUE,
        f"{STEP_QUEUE}/{DEAD_LETTER_SUBQUEUE}",
    }
    assert {b["connection"] for b in bindings() if "connection" in b} == {SERVICE_BUS_CONNECTION}


def test_binding_settings_are_deployed_and_in_the_local_sample() -> None:
    """Every connection and %setting% a binding uses is an app setting in Azure and in local.settings.sample.json."""
    needed = referenced_settings()
    assert needed >= {"ServiceBusConnection__fullyQualifiedNamespace", "AVD_REBUILD_SCHEDULE", "AVD_SWEEP_SCHEDULE"}
    assert sorted(needed - deployed_settings()) == []
    assert sorted(needed - sample_settings()) == []


def test_identity_based_connections_are_complete() -> None:
    """Each binding connection is identity-based: namespace, credential=managedidentity and the identity's clientId."""
    for connection in {b["connection"] for b in bindings() if "connection" in b}:
        expected = {f"{connection}__{part}" for part in ("fullyQualifiedNamespace", "credential", "clientId")}
        assert expected <= deployed_settings()
        assert connection not in deployed_settings()  # never the connection-string form


def test_binding_queues_exist_with_the_session_mode_the_trigger_expects(parsed: dict[str, dict[str, Any]]) -> None:
    """Every trigger queue is declared in servicebus.bicep, sessionful exactly when the trigger uses sessions."""
    queues = bicep_queues(parsed)
    every = [b for b in bindings() if b["type"] == "serviceBusTrigger"]
    triggers = {b["queueName"]: b for b in every if not b["queueName"].endswith(DEAD_LETTER_SUBQUEUE)}
    assert sorted(triggers) == sorted(queues)  # and no queue is deployed that nothing consumes
    for name, binding in triggers.items():
        assert queues[name]["requiresSession"] is bool(binding.get("isSessionsEnabled", False)), name
    # A dead-letter subqueue exists with its queue and is read without sessions.
    for binding in every:
        if binding["queueName"].endswith(DEAD_LETTER_SUBQUEUE):
            assert binding["queueName"].split("/")[0] in queues
            assert not binding.get("isSessionsEnabled", False)
    assert queues[STEP_QUEUE]["requiresSession"] is True


def test_settings_fields_are_deployed_unless_explained() -> None:
    """Every AVD_ Settings field is an app setting in Azure and in the local sample, or NOT_DEPLOYED says why."""
    assert set(NOT_DEPLOYED) <= set(Settings.model_fields), "NOT_DEPLOYED names a field Settings no longer has"
    for field in NOT_DEPLOYED:
        assert not Settings.model_fields[field].is_required(), f"{field} has no default, so it must be deployed"
    expected = {SETTINGS_PREFIX + field.upper() for field in Settings.model_fields if field not in NOT_DEPLOYED}
    assert sorted(expected - deployed_settings()) == []
    assert sorted(expected - sample_settings()) == []


def test_every_deployed_setting_is_used() -> None:
    """Each app setting in infra is read by Settings, named by a binding, or owned by the host or SDK."""
    used = code_settings() | referenced_settings() | HOST_OWNED
    assert sorted(deployed_settings() - used) == []
    assert deployed_settings() >= HOST_OWNED, "HOST_OWNED lists a setting infra no longer deploys"


def test_local_sample_matches_the_deployment() -> None:
    """local.settings.sample.json has exactly the deployed settings plus the local-only ones."""
    assert sample_settings() == deployed_settings() | LOCAL_ONLY
    assert LOCAL_ONLY.isdisjoint(deployed_settings())

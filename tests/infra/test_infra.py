"""Offline checks of the Bicep in infra/: it parses, checkov finds nothing, and the app
settings, queues, Event Grid filter and role actions are the ones the app relies on.

pycep and checkov live in .venv-iac (requirements-iac.txt), apart from the app's venv;
these tests call them through subprocess and fail, never skip, when .venv-iac is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
IAC_VENV = REPO / ".venv-iac"
DUMP_SCRIPT = Path(__file__).with_name("bicep_dump.py")
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
SECRET_PATTERNS = ("AccountKey=", "SharedAccessKey=", "listKeys(", "InstrumentationKey=")
SKIP_COMMENT = re.compile(r"checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?")
ARM_ACTION = re.compile(r"^Microsoft\.[A-Za-z]+(/[A-Za-z]+)+$")


def iac_tool(name: str, venv: Path = IAC_VENV) -> Path:
    """Return a tool from the IaC venv, failing the test with a fix when it is missing."""
    tool = venv / ("Scripts" if sys.platform == "win32" else "bin") / name
    if not tool.exists():
        pytest.fail(
            f"{tool} is missing: the IaC checks need the separate venv {venv.name}. Create it with "
            f"`make install` or `python3 -m venv {venv.name} && {venv.name}/bin/pip install "
            "-r requirements-iac.txt`.",
            pytrace=False,
        )
    return tool


def run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    """Run a tool from .venv-iac at the repository root and capture its output."""
    return subprocess.run(  # noqa: S603 - fixed argv of our own tools, no shell, no user input
        [str(arg) for arg in args], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    """checkov's JSON report for `--framework bicep -d infra`, run once from .venv-iac."""
    checkov = iac_tool("checkov")
    result = run([checkov, "--framework", "bicep", "-d", "infra", "--skip-download", "-o", "json"])
    if not result.stdout:
        pytest.fail(f"checkov printed nothing (exit {result.returncode}): {result.stderr}", pytrace=False)
    report: dict[str, Any] = json.loads(result.stdout)
    report["exit_code"] = result.returncode
    return report


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    """Every .bicep file under infra/, parsed once by pycep in .venv-iac."""
    python = iac_tool("python")
    result = run([python, DUMP_SCRIPT, *(path.relative_to(REPO) for path in BICEP_FILES)])
    if not result.stdout:
        pytest.fail(f"pycep produced no report (exit {result.returncode}): {result.stderr}", pytrace=False)
    report: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return report


def tree(parsed: dict[str, dict[str, Any]], relative: str) -> dict[str, Any]:
    """The pycep tree of one file, e.g. tree(parsed, 'modules/storage.bicep')."""
    entry = parsed[str(Path("infra") / relative)]
    assert entry["error"] is None, entry["error"]
    result: dict[str, Any] = entry["tree"]
    return result


def resource_properties(parsed: dict[str, dict[str, Any]], relative: str, symbol: str) -> dict[str, Any]:
    """The `properties` block of the resource declared as `symbol` in one file."""
    config = tree(parsed, relative)["resources"][symbol]["config"]
    if "condition" in config:  # `= if (...) {...}` nests the body one level down
        config = config["config"]
    properties: dict[str, Any] = config["properties"]
    return properties


def param_default(parsed: dict[str, dict[str, Any]], relative: str, name: str) -> Any:
    """The default value of a Bicep parameter."""
    return tree(parsed, relative)["parameters"][name]["default"]


def test_iac_venv_missing_fails_with_instructions(tmp_path: Path) -> None:
    """A missing .venv-iac fails the IaC tests with the command that creates it, never skips them."""
    with pytest.raises(pytest.fail.Exception, match="requirements-iac.txt"):
        iac_tool("checkov", venv=tmp_path / ".venv-iac")


def test_bicep_files_exist() -> None:
    """infra/ holds main.bicep and its modules, so the parse and checkov tests have input."""
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert "main.bicep" in names
    assert {"modules/functionapp.bicep", "modules/storage.bicep", "modules/servicebus.bicep"} <= names


def test_every_bicep_file_parses(parsed: dict[str, dict[str, Any]]) -> None:
    """pycep parses every .bicep file under infra/ without an error."""
    assert sorted(parsed) == sorted(str(path.relative_to(REPO)) for path in BICEP_FILES)
    errors = {path: entry["error"] for path, entry in parsed.items() if entry["error"]}
    assert errors == {}


def test_checkov_reports_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    """checkov's Bicep checks on infra/ report zero failed checks and no parsing error."""
    summary = checkov_report["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in checkov_report["results"]["failed_checks"]]
    assert failed == [], f"checkov failed checks: {failed}"
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0, "checkov ran no check: did it find the Bicep files?"
    assert checkov_report["exit_code"] == 0


def test_checkov_skips_are_justified_and_used(checkov_report: dict[str, Any]) -> None:
    """Every inline checkov:skip names a check, gives a real justification and suppresses a check that runs."""
    skips: list[tuple[str, str, str]] = []
    for path in BICEP_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SKIP_COMMENT.search(line)
            if match:
                skips.append((path.name, match["id"], (match["reason"] or "").strip()))
    unjustified = [(name, check) for name, check, reason in skips if len(reason) < 40]
    assert unjustified == []

    applied = {c["check_id"] for c in checkov_report["results"]["skipped_checks"]}
    stale = sorted({check for _, check, _ in skips} - applied)
    assert stale == [], f"skip comments for checks checkov does not run here: {stale}"


def test_app_settings_match_the_list(parsed: dict[str, dict[str, Any]]) -> None:
    """The Function App's appSettings are exactly the names in infra/app-settings.json, in order."""
    functionapp = tree(parsed, "modules/functionapp.bicep")
    settings: dict[str, Any] = functionapp["variables"]["appSettings"]["value"]
    expected = json.loads((INFRA / "app-settings.json").read_text(encoding="utf-8"))
    assert list(settings) == expected
    assert len(set(expected)) == len(expected)

    site_settings = functionapp["resources"]["functionApp"]["config"]["properties"]["siteConfig"]["appSettings"]
    assert site_settings["loop_type"]["detail"]["object_name"] == "appSettings"


def test_app_settings_use_managed_identity(parsed: dict[str, dict[str, Any]]) -> None:
    """Storage, Service Bus and Application Insights are reached by the managed identity, not by keys."""
    functionapp = tree(parsed, "modules/functionapp.bicep")
    settings = functionapp["variables"]["appSettings"]["value"]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert "Authorization=AAD" in json.dumps(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
    assert "AzureWebJobsStorage" not in settings  # the connection-string form
    assert "APPINSIGHTS_INSTRUMENTATIONKEY" not in settings
    assert param_default(parsed, "modules/functionapp.bicep", "catalogPath") == "catalog"
    main = tree(parsed, "main.bicep")
    assert main["parameters"]["rebuildSchedule"]["default"] == "0 0 6 * * *"
    assert main["parameters"]["sweepSchedule"]["default"] == "0 30 * * * *"
    assert main["variables"]["tableName"]["value"] == "imagelifecycle"


def test_no_secret_looking_values_in_infra() -> None:
    """Nothing under infra/ (nor azure.yaml) holds or fetches a key: no AccountKey=, SharedAccessKey=, listKeys(."""
    files = [path for path in INFRA.rglob("*") if path.is_file()] + [REPO / "azure.yaml"]
    hits = [
        (path.relative_to(REPO).as_posix(), pattern)
        for path in files
        for pattern in SECRET_PATTERNS
        if pattern.lower() in path.read_text(encoding="utf-8").lower()
    ]
    assert hits == []


def test_flex_consumption_function_app(parsed: dict[str, dict[str, Any]]) -> None:
    """The app runs on an FC1 plan, Python 3.11, and reads its package with the user-assigned identity."""
    functionapp = tree(parsed, "modules/functionapp.bicep")
    assert functionapp["resources"]["plan"]["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = functionapp["resources"]["functionApp"]["config"]
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["httpsOnly"] is True


def test_storage_account_is_identity_only(parsed: dict[str, dict[str, Any]]) -> None:
    """The storage account refuses shared keys, public blobs, plain HTTP and TLS below 1.2, and holds the table."""
    properties = resource_properties(parsed, "modules/storage.bicep", "storage")
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert tree(parsed, "modules/storage.bicep")["resources"]["table"]["type"].endswith("/tables")


def test_service_bus_queues(parsed: dict[str, dict[str, Any]]) -> None:
    """image-steps is sessionful with duplicate detection; image-approvals dead-letters after 5 deliveries."""
    relative = "modules/servicebus.bicep"
    namespace = tree(parsed, relative)["resources"]["namespace"]["config"]
    assert namespace["sku"]["name"] == "Standard"
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"

    assert param_default(parsed, relative, "stepQueueName") == "image-steps"
    steps = resource_properties(parsed, relative, "stepQueue")
    assert steps["requiresSession"] is True
    assert steps["requiresDuplicateDetection"] is True
    assert steps["duplicateDetectionHistoryTimeWindow"] == "PT1H"
    assert steps["maxDeliveryCount"] == 10
    assert steps["lockDuration"] == "PT5M"
    assert steps["deadLetteringOnMessageExpiration"] is True

    assert param_default(parsed, relative, "approvalQueueName") == "image-approvals"
    approvals = resource_properties(parsed, relative, "approvalQueue")
    assert approvals["requiresDuplicateDetection"] is True
    assert approvals["maxDeliveryCount"] == 5
    assert approvals["deadLetteringOnMessageExpiration"] is True


def test_event_grid_subscription_targets_arm_events(parsed: dict[str, dict[str, Any]]) -> None:
    """ARM write/action/delete events go to arm_events, filtered on data.operationName, with retries and dead letters."""
    relative = "modules/eventgrid.bicep"
    eventgrid = tree(parsed, relative)
    topic = eventgrid["resources"]["systemTopic"]["config"]["properties"]
    assert topic["topicType"] == "Microsoft.Resources.ResourceGroups"
    assert param_default(parsed, relative, "functionName") == "arm_events"

    subscription = resource_properties(parsed, relative, "armEvents")
    assert subscription["destination"]["endpointType"] == "AzureFunction"
    assert "/functions/" in json.dumps(subscription["destination"]["properties"]["resourceId"])
    event_types = eventgrid["variables"]["includedEventTypes"]["value"]
    assert sorted(event_types) == sorted(
        f"Microsoft.Resources.Resource{kind}{outcome}"
        for kind in ("Write", "Action", "Delete")
        for outcome in ("Success", "Failure")
    )
    (advanced,) = subscription["filter"]["advancedFilters"]
    assert advanced["key"] == "data.operationName"
    assert advanced["operatorType"] == "StringIn"
    assert advanced["values"] == "routedOperations"  # compared with the router in test_event_filter.py
    assert subscription["retryPolicy"]["maxDeliveryAttempts"] == "maxDeliveryAttempts"
    assert subscription["deadLetterWithResourceIdentity"]["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_role_actions_are_flat_lists_of_arm_actions(parsed: dict[str, dict[str, Any]]) -> None:
    """role-actions.json holds exact ARM action strings per scope, no wildcards, and main.bicep loads both lists."""
    document = json.loads((INFRA / "role-actions.json").read_text(encoding="utf-8"))
    assert set(document) == {"actions", "subscriptionActions", "hostPoolActions", "notActions"}
    assert document["notActions"] == []
    for key in ("actions", "subscriptionActions", "hostPoolActions"):
        actions = document[key]
        assert all(isinstance(action, str) and ARM_ACTION.match(action) for action in actions), actions
        assert len(set(actions)) == len(actions)
        assert actions == sorted(actions), f"{key} is kept sorted so reviews see additions"
    assert "Microsoft.Compute/galleries/images/versions/write" in document["actions"]
    assert "Microsoft.Compute/virtualMachines/generalize/action" in document["actions"]

    main = tree(parsed, "main.bicep")
    loader = main["variables"]["roleActions"]["value"]["function"]
    assert loader["type"] == "load_json_content"
    assert loader["parameters"]["file_path"] == "role-actions.json"
    operator = resource_properties(parsed, "main.bicep", "imageOperatorRole")["permissions"][0]
    reader = resource_properties(parsed, "main.bicep", "subscriptionReaderRole")["permissions"][0]
    assert operator["actions"] == role_actions_list("actions")
    assert reader["actions"] == role_actions_list("subscriptionActions")
    hostpool = resource_properties(parsed, "main.bicep", "hostPoolOperatorRole")["permissions"][0]
    assert hostpool["actions"] == role_actions_list("hostPoolActions")


def role_actions_list(key: str) -> dict[str, Any]:
    """pycep's tree for the Bicep expression `roleActions.<key>`."""
    return {"operator": {"type": "property_accessor", "operands": {"operand_1": "roleActions", "operand_2": key}}}


def test_subscription_reader_role_is_assignable_at_the_subscription(parsed: dict[str, dict[str, Any]]) -> None:
    """The subscription reader role (on by default) is scoped to the subscription and assigned to the app identity."""
    main = tree(parsed, "main.bicep")
    assert main["parameters"]["grantSubscriptionReads"]["default"] is True
    role = resource_properties(parsed, "main.bicep", "subscriptionReaderRole")
    assert "subscription" in json.dumps(role["assignableScopes"])
    assignment = resource_properties(parsed, "main.bicep", "subscriptionReaderAssignment")
    assert "subscriptionReaderRole" in json.dumps(assignment["roleDefinitionId"])
    assert "appIdentity" in json.dumps(assignment["principalId"])


def test_custom_role_is_assignable_only_on_the_image_resource_group(parsed: dict[str, dict[str, Any]]) -> None:
    """The custom role can be assigned on the image resource group only, and is assigned there."""
    role = resource_properties(parsed, "main.bicep", "imageOperatorRole")
    assert role["assignableScopes"] == [
        {"operator": {"type": "property_accessor", "operands": {"operand_1": "imageResourceGroup", "operand_2": "id"}}}
    ]
    module = tree(parsed, "main.bicep")["modules"]["imageAccess"]["config"]
    assert module["scope"] == "imageResourceGroup"


def test_parameters_file_uses_azd_substitutions(parsed: dict[str, dict[str, Any]]) -> None:
    """main.parameters.json feeds azd's environment into parameters that main.bicep declares."""
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    parameters = document["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert set(parameters) <= set(tree(parsed, "main.bicep")["parameters"])


def test_azure_yaml_declares_the_function_service() -> None:
    """azure.yaml deploys the repository root as the Python function service `api`."""
    python = iac_tool("python")  # PyYAML ships with checkov in .venv-iac
    result = run([python, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(open('azure.yaml')), sys.stdout)"])
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    assert project["services"]["api"] == project["services"]["api"] | {
        "project": ".",
        "language": "python",
        "host": "function",
    }
    assert (REPO / project["infra"]["path"] / f"{project['infra']['module']}.bicep").exists()


def test_azure_yaml_validates_the_catalog_before_deploy(tmp_path: Path) -> None:
    """The predeploy hook runs `avdimage validate-catalog` and stops a deploy of a catalog with a mistake."""
    python = iac_tool("python")
    result = run([python, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(open('azure.yaml')), sys.stdout)"])
    hooks = json.loads(result.stdout)["hooks"]["predeploy"]
    assert hooks["posix"]["run"] == "./infra/hooks/predeploy.sh"
    assert hooks["posix"]["continueOnError"] is False
    assert "validate-catalog" in (REPO / "infra" / "hooks" / "predeploy.ps1").read_text(encoding="utf-8")
    shutil.copytree(REPO / "catalog", tmp_path / "catalog")
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    hook = REPO / "infra" / "hooks" / "predeploy.sh"
    good = subprocess.run(["sh", str(hook)], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: S603, S607
    assert good.returncode == 0, good.stderr
    office = tmp_path / "catalog" / "office.toml"
    office.write_text(office.read_text(encoding="utf-8") + '\ncolour = "blue"\n', encoding="utf-8")
    bad = subprocess.run(["sh", str(hook)], cwd=tmp_path, capture_output=True, text=True, check=False)  # noqa: S603, S607
    assert bad.returncode != 0
    assert "office.toml" in bad.stdout + bad.stderr

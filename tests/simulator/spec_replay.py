"""Replay machinery for Azure's published REST examples (tests/simulator/spec_examples).

An example gives the request (path parameters, query and body) and the documented
responses per status code. The replay sends the request over HTTP to a loopback
simulator and checks what Azure's example documents:

* the status code is one of the documented ones;
* a documented ``Location`` / ``Azure-AsyncOperation`` header is present, is a URL that
  answers, and the operation it names ends ``Succeeded``;
* every property path of the documented body for that status exists in ours;
* an echoed property (present in the request that created the resource) has the value
  the request sent; an enum property has a value of the spec's enum; every other value
  equals the documented one, except the per-instance fields listed in ``PER_INSTANCE``
  (each with the reason why its value cannot match).

Properties the simulator does not model are listed in ``NOT_MODELLED`` with the reason;
they are the only documented paths allowed to be absent.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

# -- what cannot or need not match ------------------------------------------------------------

# Property names whose value is per instance (or depends on a source the setup chose); only
# the JSON type is compared. Keyed by the last path segment.
PER_INSTANCE: dict[str, str] = {
    "id": "a nested id names a resource the setup created (the top-level id is checked against the request path)",
    "vmId": "a GUID Azure generates per VM",
    "uniqueId": "a GUID Azure generates per disk or snapshot",
    "sourceUniqueId": "the uniqueId of the source disk the setup created",
    "incrementalSnapshotFamilyId": "a GUID Azure generates per incremental snapshot family",
    "resourceGuid": "a GUID Azure generates per network resource",
    "etag": "a version token Azure generates per write",
    "timeCreated": "creation timestamp",
    "LastOwnershipUpdateTime": "timestamp of the last attach/detach",
    "publishedDate": "publication timestamp",
    "time": "status timestamp",
    "startTime": "operation timestamp",
    "endTime": "operation timestamp",
    "macAddress": "assigned per NIC when it is attached",
    "privateIPAddress": "allocated from the subnet the setup created",
    "diskSizeGB": "size of the source image or disk the setup used",
    "diskSizeBytes": "follows diskSizeGB",
    "sizeInGB": "size of the source disk the setup used",
    "osVersion": "the guest's OS build and UBR (the simulated catalog's current update)",
    "vmAgentVersion": "the guest agent's version",
    "message": "free text: run command output or the agent's status text",
    "managedBy": "the VM the setup attached the disk to",
    "internalDomainNameSuffix": "a per-VNet DNS suffix Azure generates",
    "consoleScreenshotBlobUri": "a blob URI Azure generates per VM",
    "serialConsoleLogBlobUri": "a blob URI Azure generates per VM",
    "reportedForPolicyViolation": "true only for an image version that was reported for a policy violation",
    "platformUpdateDomain": "the update domain Azure placed the VM in",
    "platformFaultDomain": "the fault domain Azure placed the VM in",
}

# Enum properties (values from the REST spec's enum definitions): the value must be a member;
# it is state-dependent (e.g. provisioningState) or derived from the setup's source.
ENUMS: dict[str, frozenset[str]] = {
    "provisioningState": frozenset(
        {"Creating", "Updating", "Succeeded", "Failed", "Deleting", "Canceled", "Migrating"}
    ),
    "osType": frozenset({"Windows", "Linux"}),
    "hyperVGeneration": frozenset({"V1", "V2"}),
    "diskState": frozenset(
        {
            "Unattached",
            "Attached",
            "Reserved",
            "Frozen",
            "ActiveSAS",
            "ActiveSASFrozen",
            "ReadyToUpload",
            "ActiveUpload",
        }
    ),
    "networkAccessPolicy": frozenset({"AllowAll", "AllowPrivate", "DenyAll"}),
    "aggregatedState": frozenset({"Unknown", "InProgress", "Completed", "Failed"}),
    "state": frozenset({"Unknown", "Replicating", "Completed", "Failed"}),
    "level": frozenset({"Info", "Warning", "Error"}),
    "hostCaching": frozenset({"None", "ReadOnly", "ReadWrite"}),
    "status": frozenset({"InProgress", "Succeeded", "Failed", "Canceled"}),
    "supportedSecurityOption": frozenset(
        {"TrustedLaunchSupported", "TrustedLaunchAndConfidentialVMSupported", "TrustedLaunchAndConfidentialVmSupported"}
    ),
}

# Documented paths the simulator does not model, with the reason; matched as regular
# expressions against the dotted path (list items as [key=value] or [index]).
NOT_MODELLED: dict[str, str] = {
    r"^nextLink$": "lists fit one page; Azure sends nextLink only when there are more",
    r"properties\.purchasePlan$": "only images sold with a plan carry one; the simulated Windows images have none",
    r"properties\.safetyProfile\.policyViolations$": "only image versions reported for a policy violation carry them",
    r"properties\.defaultPublicNatGateway$": "NAT gateways are not simulated",
    r"properties\.dscpConfiguration$": "DSCP configurations are not simulated",
    r"properties\.networkSecurityGroup$": "network security groups are not simulated",
    r"^vmAgent\.extensionHandlers$": "VM extensions are not simulated",
    r"^extensions$": "VM extensions are not simulated",
    r"^patchStatus$": "patch assessment is not simulated",
    r"^disks\[name=myDataDisk0\]$": "VM data disks are not simulated (the setup VM has an OS disk only)",
}


@dataclass
class Mismatch:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path or '<body>'}: {self.problem}"


@dataclass
class Comparison:
    """Compare a documented body with ours; ``echo`` is the request that created the resource."""

    url_path: str
    substitutions: dict[str, str]
    extra_not_modelled: dict[str, str] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    def run(self, documented: Any, actual: Any, echo: Any) -> list[Mismatch]:
        self._compare(substitute(documented, self.substitutions), actual, echo, "", top=True)
        return self.mismatches

    def _absent_ok(self, path: str) -> bool:
        patterns = {**NOT_MODELLED, **self.extra_not_modelled}
        return any(re.search(p, path) for p in patterns)

    def _compare(self, doc: Any, actual: Any, echo: Any, path: str, *, top: bool = False) -> None:
        if isinstance(doc, dict):
            if not isinstance(actual, dict):
                self.mismatches.append(Mismatch(path, f"expected an object, got {type(actual).__name__}"))
                return
            for key, value in doc.items():
                sub = f"{path}.{key}" if path else key
                if key not in actual or (actual[key] is None and value is not None):
                    if not self._absent_ok(sub):
                        self.mismatches.append(Mismatch(sub, "documented, missing in the simulator's response"))
                    continue
                child_echo = echo.get(key) if isinstance(echo, dict) else None
                if top and key == "id":
                    self._check_top_id(actual[key], sub)
                elif top and key == "name":
                    expected = self.url_path.rstrip("/").rsplit("/", 1)[-1]
                    if str(actual[key]).lower() != expected.lower():
                        self.mismatches.append(
                            Mismatch(sub, f"{actual[key]!r} is not the name in the URL {expected!r}")
                        )
                else:
                    self._compare(value, actual[key], child_echo, sub)
            return
        if isinstance(doc, list):
            self._compare_list(doc, actual, echo, path)
            return
        self._compare_leaf(doc, actual, echo, path)

    def _check_top_id(self, value: Any, path: str) -> None:
        # The examples' own ids are often edited by hand ("/providers/Microsoft.Compute/locations/...");
        # Azure's id is the request path.
        if not isinstance(value, str) or value.lower() != self.url_path.lower():
            self.mismatches.append(Mismatch(path, f"{value!r} is not the request path {self.url_path!r}"))

    def _compare_list(self, doc: list[Any], actual: Any, echo: Any, path: str) -> None:
        if not isinstance(actual, list):
            self.mismatches.append(Mismatch(path, f"expected a list, got {type(actual).__name__}"))
            return
        key = _list_key(doc)
        for index, item in enumerate(doc):
            if key is None:
                label, found, echo_item = f"[{index}]", _at(actual, index), _at(echo, index)
            else:
                label = f"[{key}={item[key]}]"
                found = _find(actual, key, item[key])
                echo_item = _find(echo, key, item[key]) if isinstance(echo, list) else None
            sub = f"{path}{label}"
            if found is None:
                if not self._absent_ok(sub):
                    self.mismatches.append(Mismatch(sub, "documented item missing in the simulator's response"))
                continue
            self._compare(item, found, echo_item, sub)

    def _compare_leaf(self, doc: Any, actual: Any, echo: Any, path: str) -> None:
        name = re.sub(r"\[.*?\]", "", path.rsplit(".", 1)[-1])
        if doc is not None and not _same_type(doc, actual):
            self.mismatches.append(Mismatch(path, f"type {type(actual).__name__}, documented {type(doc).__name__}"))
            return
        if echo is not None and not isinstance(echo, dict | list):
            if actual != echo:
                self.mismatches.append(Mismatch(path, f"{actual!r} is not the value the request sent ({echo!r})"))
            return
        if name in PER_INSTANCE:
            return
        if name in ENUMS:
            if actual not in ENUMS[name]:
                self.mismatches.append(Mismatch(path, f"{actual!r} is not one of the spec's values"))
            return
        if doc is not None and actual != doc:
            self.mismatches.append(Mismatch(path, f"{actual!r}, documented {doc!r}"))


def _list_key(items: list[Any]) -> str | None:
    for key in ("name", "lun", "region", "code"):
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def _find(items: Any, key: str, value: Any) -> Any:
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and str(item.get(key)).lower() == str(value).lower():
            return item
    return None


def _at(items: Any, index: int) -> Any:
    return items[index] if isinstance(items, list) and index < len(items) else None


def _same_type(doc: Any, actual: Any) -> bool:
    if isinstance(doc, bool) or isinstance(actual, bool):
        return isinstance(doc, bool) and isinstance(actual, bool)
    if isinstance(doc, int | float):
        return isinstance(actual, int | float)
    return type(doc) is type(actual)


def substitute(value: Any, substitutions: dict[str, str]) -> Any:
    """Replace the examples' placeholders ({subscription-id}, {existing-nic-name}, ...) everywhere."""
    if isinstance(value, str):
        for old, new in substitutions.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, substitutions) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    return value


# -- HTTP ---------------------------------------------------------------------------------------

MAX_POLLS = 50  # the simulator jumps its clock to an operation's end when polled: one poll suffices


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class Arm:
    """A bare ARM client over HTTP: what the example's request is, sent as is."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path_or_url: str, body: Any = None, query: dict[str, Any] | None = None) -> Reply:
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback simulator only
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", "Bearer replay")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback simulator only
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            status, headers, raw = err.code, dict(err.headers), err.read()
        return Reply(status, headers, json.loads(raw) if raw else None)

    def wait(self, reply: Reply) -> Reply:
        """Poll the LRO named by ``reply`` to its end; returns the final operation status."""
        url = reply.header("Azure-AsyncOperation")
        if url is None:
            location = reply.header("Location")
            assert location is not None, f"a {reply.status} answer names no operation to poll"
            final = self.call("GET", location)
            for _ in range(MAX_POLLS):
                if final.status != 202:
                    return final
                final = self.call("GET", final.header("Location") or location)
            raise AssertionError(f"{location} still 202 after {MAX_POLLS} polls")
        status = self.call("GET", url)
        for _ in range(MAX_POLLS):
            if not (status.body and status.body.get("status") == "InProgress"):
                return status
            status = self.call("GET", url)
        raise AssertionError(f"{url} still InProgress after {MAX_POLLS} polls")

    def ok(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """A setup call: must succeed; long-running ones are waited for."""
        reply = self.call(method, path, body, {"api-version": "2025-04-01", **(query or {})})
        assert reply.status < 300, f"setup {method} {path} failed: {reply.status} {reply.body}"
        if reply.status in (201, 202) and (reply.header("Azure-AsyncOperation") or reply.header("Location")):
            final = self.wait(reply)
            assert final.status < 300, f"setup {method} {path}: {final.status} {final.body}"
            if final.body and "status" in final.body:
                assert final.body["status"] == "Succeeded", f"setup {method} {path}: {final.body}"
        return reply.body


def request_path(url: str) -> str:
    return urlsplit(url).path

"""Request-body members Compute RP knows, and what it does with the ones it does not.

Compute RP deserializes bodies with Json.NET and refuses a member it cannot map to its
contract: 400 ``InvalidRequestContent`` "The request content was invalid and could not be
deserialized: 'Could not find member 'X' on object of type 'T'. Path 'p', line 1, position
n.'" (Azure/azure-rest-api-specs#286, Azure/azure-powershell#4309). Json.NET matches member
names without regard to case, so a member in the wrong case is accepted as the right one;
the simulator renames it to the contract's spelling before a backend reads it.

The contract is the REST spec as generated into the azure-mgmt-compute models (their
``rest_field`` names and type hints), so nothing here is typed twice. Only Compute bodies
are checked: no public source shows Network RP refusing unknown members.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import typing
from typing import Any

from simulator.errors import ArmError

_N = r"[^/]+"
_CP = rf"^/subscriptions/{_N}/resourceGroups/{_N}/providers/Microsoft\.Compute"
_GAL = rf"{_CP}/galleries/{_N}"

# (method, path regex, SDK model of the body)
_BODIES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p + "/?$", re.IGNORECASE), model)
    for m, p, model in [
        ("PUT", rf"{_CP}/virtualMachines/{_N}", "VirtualMachine"),
        ("PATCH", rf"{_CP}/virtualMachines/{_N}", "VirtualMachineUpdate"),
        ("POST", rf"{_CP}/virtualMachines/{_N}/runCommand", "RunCommandInput"),
        ("PUT", rf"{_CP}/disks/{_N}", "Disk"),
        ("PATCH", rf"{_CP}/disks/{_N}", "DiskUpdate"),
        ("PUT", rf"{_CP}/snapshots/{_N}", "Snapshot"),
        ("PATCH", rf"{_CP}/snapshots/{_N}", "SnapshotUpdate"),
        ("PUT", rf"{_GAL}", "Gallery"),
        ("PUT", rf"{_GAL}/images/{_N}", "GalleryImage"),
        ("PUT", rf"{_GAL}/images/{_N}/versions/{_N}", "GalleryImageVersion"),
        ("PATCH", rf"{_GAL}/images/{_N}/versions/{_N}", "GalleryImageVersionUpdate"),
    ]
]

Schema = dict[str, tuple[str, Any]]  # lower-cased member -> (contract spelling, member type)


def _models() -> Any:
    from azure.mgmt.compute import models

    return models


@functools.cache
def members(model: type) -> Schema:
    """Every member of an SDK model (its ``rest_field`` names) with its type hint."""
    models = _models()
    hints: dict[str, Any] = {}
    fields: Schema = {}
    for klass in reversed(model.__mro__):
        if not klass.__module__.startswith("azure.mgmt."):
            continue
        module = sys.modules[klass.__module__]
        with contextlib.suppress(NameError, TypeError):  # an SDK annotation we cannot resolve: no nesting
            hints.update(typing.get_type_hints(klass, globalns=vars(module), localns={"_models": models}))
        for attr, value in vars(klass).items():
            if attr.startswith("_") or not hasattr(value, "_rest_name_input"):
                continue
            name = value._rest_name_input or attr
            fields[name.lower()] = (name, hints.get(attr))
    return fields


def _model_of(hint: Any) -> tuple[str, type | None]:
    """('object', model) / ('list', model) / ('leaf', None) for a member's type hint."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and hasattr(a, "__mro__") and _is_model(a)]
        if models:
            return "object", models[0]
        lists = [a for a in args if typing.get_origin(a) is list]
        return _model_of(lists[0]) if lists else ("leaf", None)
    if origin is list:
        (item,) = typing.get_args(hint) or (None,)
        kind, model = _model_of(item)
        return ("list", model) if kind == "object" else ("leaf", None)
    if isinstance(hint, type) and _is_model(hint):
        return "object", hint
    return "leaf", None


def _is_model(cls: type) -> bool:
    return cls.__module__.startswith("azure.mgmt.") and hasattr(cls, "__mro__") and not issubclass(cls, str)


def body_model(method: str, path: str) -> type | None:
    """The SDK model that describes this request's body, or None when bodies are not checked."""
    for m, pattern, name in _BODIES:
        if m == method and pattern.match(path):
            model: type = getattr(_models(), name)
            return model
    return None


def conform(body: Any, model: type, raw: bytes) -> Any:
    """The body with members in the contract's spelling; ArmError for a member the contract lacks."""
    text = raw.decode("utf-8", "replace")
    return _walk(body, model, "", text, top=True)


def _walk(value: Any, model: type, path: str, text: str, *, top: bool = False) -> Any:
    if not isinstance(value, dict):
        return value
    schema = members(model)
    out: dict[str, Any] = {}
    for key, item in value.items():
        found = schema.get(str(key).lower())
        where = f"{path}.{key}" if path else str(key)
        if found is None:
            position = max(text.find(f'"{key}"'), 0) + len(str(key)) + 2
            owner = "ResourceDefinition" if top else model.__name__
            raise ArmError(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: "
                f"'Could not find member '{key}' on object of type '{owner}'. "
                f"Path '{where}', line 1, position {position}.'.",
                400,
            )
        name, hint = found
        kind, inner = _model_of(hint)
        here = f"{path}.{name}" if path else name
        if kind == "object" and inner is not None:
            out[name] = _walk(item, inner, here, text)
        elif kind == "list" and inner is not None and isinstance(item, list):
            out[name] = [_walk(x, inner, f"{here}[{i}]", text) for i, x in enumerate(item)]
        else:
            out[name] = item
    return out

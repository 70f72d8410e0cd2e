"""Judge a JSON body against the official Azure SDK models: unknown fields, missing required ones,
wrong types.

The SDKs (`azure-mgmt-recoveryservicesbackup`, `azure-mgmt-dataprotection`, pinned in the test
extras) are generated from the same TypeSpec as Azure's own services. Their models deserialise
lazily and keep unknown keys silently, so deserialising alone proves nothing: this walks the body
against each model's rest fields instead. The concrete class of a polymorphic model comes from its
discriminator (`jobType` → AzureIaaSVMJob / AzureStorageJob / AzureWorkloadJob, `protectedItemType`
→ AzureIaaSVMProtectedItem ...), required means "not Optional" in the model's annotations, and
date-times and durations are read by the SDK's own deserialisers (so a .NET TimeSpan where the
model says `timedelta` is a wrong type, as it is for the SDK).
"""

from __future__ import annotations

import datetime
import enum
import functools
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any

from azure.mgmt.dataprotection import models as dpp_models
from azure.mgmt.dataprotection._utils import model_base as dpp_model_base
from azure.mgmt.recoveryservicesbackup import models as rsv_models
from azure.mgmt.recoveryservicesbackup._utils import model_base

MODELS = (model_base.Model, dpp_model_base.Model)
# (model class name, JSON field): fields real recordings carry that the SDK's model does not know.
Allowed = frozenset[tuple[str, str]]


@functools.cache
def _fields(cls: type) -> dict[str, tuple[Any, bool]]:
    """{rest name: (annotation, is discriminator)} of a model class."""
    cls()  # the first instance computes _attr_to_rest_field
    module = sys.modules[cls.__module__]
    namespace = dict(vars(module))
    # The generated annotations say "_models.X"; both SDKs' model modules are that namespace.
    namespace["_models"] = dpp_models if module.__name__.startswith("azure.mgmt.dataprotection") else rsv_models
    hints = typing.get_type_hints(cls, namespace)
    return {rf._rest_name: (hints[attr], rf._is_discriminator) for attr, rf in cls._attr_to_rest_field.items()}


@functools.cache
def _subtypes(cls: type) -> dict[str, type]:
    """Every discriminator value under `cls`, nested hierarchies included (protectedItemType
    "Microsoft.Compute/virtualMachines" sits under AzureIaaSVMProtectedItem)."""
    found: dict[str, type] = {}
    for value, sub in getattr(cls, "__mapping__", {}).items():
        found.setdefault(value, sub)
        if sub is not cls and getattr(sub, "__mapping__", None) is not getattr(cls, "__mapping__", None):
            for nested, deeper in _subtypes(sub).items():
                found.setdefault(nested, deeper)
    return found


def _concrete(cls: type, body: dict[str, Any]) -> type:
    subtypes = _subtypes(cls)
    if not subtypes:
        return cls
    for name, (_, is_discriminator) in _fields(cls).items():
        if is_discriminator and body.get(name) in subtypes:
            return subtypes[body[name]]
    return cls


@functools.cache
def _shape(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """(origin, arguments) of an annotation, `X | Y` and `Optional[X]` both as typing.Union."""
    origin = typing.get_origin(annotation)
    return (typing.Union if origin is types.UnionType else origin), typing.get_args(annotation)


def _optional(annotation: Any) -> bool:
    origin, args = _shape(annotation)
    return origin is typing.Union and type(None) in args


def check(cls: type, body: Any, allowed: Allowed = frozenset(), path: str = "$") -> list[str]:
    """Every way `body` differs from what model `cls` describes, as 'path: problem' lines."""
    if not isinstance(body, dict):
        return [f"{path}: {type(body).__name__} where {cls.__name__} expects an object"]
    concrete = _concrete(cls, body)
    if getattr(concrete, "__mapping__", None) and concrete is cls:
        return [f"{path}: no subtype of {cls.__name__} for this discriminator"]
    fields = _fields(concrete)
    problems = []
    for key, value in body.items():
        if key not in fields:
            if (concrete.__name__, key) not in allowed:
                problems.append(f"{path}.{key}: unknown to {concrete.__name__}")
            continue
        problems += _check_value(fields[key][0], value, allowed, f"{path}.{key}")
    for key, (annotation, _) in fields.items():
        if key not in body and not _optional(annotation):
            problems.append(f"{path}.{key}: required by {concrete.__name__}, missing")
    return problems


def _check_value(annotation: Any, value: Any, allowed: Allowed, path: str) -> list[str]:
    origin, args = _shape(annotation)
    if origin is typing.Union:
        if value is None:
            return [] if type(None) in args else [f"{path}: null, not allowed"]
        if type(value) is str and str in args:  # the common case: an optional string or open enum
            return []
        results = []
        for option in args:
            if option is not type(None):
                result = _check_value(option, value, allowed, path)
                if not result:
                    return []
                results.append(result)
        return min(results, key=len)
    if value is None:
        return [f"{path}: null where {getattr(annotation, '__name__', annotation)} is required"]
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} not in {annotation}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list"]
        return [problem for i, v in enumerate(value) for problem in _check_value(args[0], v, allowed, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not an object"]
        return [problem for k, v in value.items() for problem in _check_value(args[1], v, allowed, f"{path}.{k}")]
    if isinstance(annotation, type) and issubclass(annotation, MODELS):
        return check(annotation, value, allowed, path)
    return _check_scalar(annotation, value, path)


def _check_scalar(annotation: Any, value: Any, path: str) -> list[str]:
    wrong = [f"{path}: {value!r} is not {getattr(annotation, '__name__', annotation)}"]
    if annotation is Any:
        return []
    if annotation is bool:
        return [] if isinstance(value, bool) else wrong
    if annotation is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else wrong
    if annotation is float:
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else wrong
    if annotation is str or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        return [] if isinstance(value, str) else wrong  # enums are open: any string is allowed
    if annotation in (datetime.datetime, datetime.timedelta):
        read = model_base._deserialize_datetime if annotation is datetime.datetime else model_base._deserialize_duration
        if not isinstance(value, str):
            return wrong
        try:
            read(value)
        except Exception:  # noqa: BLE001 - whatever the SDK's parser raises, the SDK could not read it
            return wrong
        return []
    return [f"{path}: no rule for {annotation}"]


def check_all(cls: type, bodies: Iterable[Any], allowed: Allowed = frozenset()) -> list[str]:
    """The distinct problems of many bodies, in the order first found."""
    seen: dict[str, None] = {}
    for body in bodies:
        for problem in check(cls, body, allowed):
            seen[problem] = None
    return list(seen)

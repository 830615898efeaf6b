"""Indexing: import an app folder's `function_app.py` and describe its functions as the worker would.

The description is built from `Function.get_raw_bindings()`, the JSON the Python worker sends to the
host, so what this host runs is exactly what Azure would index. Signature checks mirror the worker's
(`azure_functions_worker.functions.Registry`): parameter names equal the binding names, `context` is
injected, OUT bindings other than `$return` are `func.Out[...]` or unannotated. A parameter annotated with
an SDK type (the blob extension's `BlobClient`) enables deferred bindings for its function, decided and
described by the base extension exactly as the worker has it do (see deferred_bindings.py).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from emulators.functions_host import deferred_bindings

TRIGGER_TYPES = frozenset({"httpTrigger", "queueTrigger", "blobTrigger", "timerTrigger"})
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"


class IndexingError(Exception):
    """The app cannot be indexed; Azure would fail the same app at start-up."""


@dataclass(frozen=True)
class Binding:
    """One binding as the host sees it (raw JSON keys, camelCase)."""

    name: str
    type: str
    direction: str  # "IN" | "OUT" | "INOUT"
    raw: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def deferred(self) -> bool:
        """The worker marked it: the host sends a reference (model binding data), never the content."""
        properties = self.raw.get("properties")
        return isinstance(properties, dict) and properties.get("SupportsDeferredBinding") is True


@dataclass(frozen=True)
class FunctionSpec:
    """An indexed function: its trigger, its other bindings and how to call it."""

    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    user_function: Callable[..., Any]
    is_async: bool
    takes_context: bool
    annotations: dict[str, Any] = field(default_factory=dict)
    retry_policy: dict[str, Any] | None = None
    # The worker's `FunctionInfo.deferred_bindings_enabled`: a parameter is annotated with an SDK type.
    deferred_bindings_enabled: bool = False

    @property
    def function_id(self) -> str:
        """The id the host uses in blob receipts and Event Grid webhooks."""
        return f"Host.Functions.{self.name}"

    def inputs(self) -> list[Binding]:
        return [b for b in self.bindings if b.direction == "IN" and b is not self.trigger]

    def outputs(self) -> list[Binding]:
        return [b for b in self.bindings if b.direction == "OUT" and b.name != "$return"]

    def has_return_binding(self) -> bool:
        return any(b.name == "$return" for b in self.bindings)

    def wants_raw(self, binding_name: str) -> bool:
        """A `str`/`bytes` annotation selects the worker's generic binding: the raw payload."""
        return self.annotations.get(binding_name) in (str, bytes)


def load_app(app_dir: Path, script_file: str = "function_app.py") -> func.FunctionRegister:
    """Import `script_file` from `app_dir` and return its one top-level FunctionApp."""
    path = app_dir / script_file
    if not path.is_file():
        raise IndexingError(f"{path} not found")
    module_name = f"_functions_app_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise IndexingError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # The worker runs the app with its folder on sys.path, so sibling packages (shared/) import.
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not apps:
        raise IndexingError(f"Could not find top level function app instances in {script_file}.")
    if len(apps) > 1:
        raise IndexingError(f"More than one FunctionApp instance found in {script_file}.")
    return apps[0]


def index_app(app: func.FunctionRegister) -> list[FunctionSpec]:
    """Describe every function of `app`; raises IndexingError where the worker would refuse to load."""
    try:
        # get_functions() may be called only once per app (a second call raises), so clear its cache.
        app.functions_bindings = None
        functions = app.get_functions()
    except ValueError as exc:
        raise IndexingError(str(exc)) from exc
    return [_describe(f) for f in functions]


def _describe(function: Any) -> FunctionSpec:
    name: str = function.get_function_name()
    bindings = tuple(_binding(json.loads(raw)) for raw in function.get_raw_bindings())
    triggers = [b for b in bindings if b.type in TRIGGER_TYPES]
    if len(triggers) != 1:
        kinds = ", ".join(b.type for b in bindings)
        raise IndexingError(f"Function {name} needs exactly one supported trigger, has: {kinds}")
    user_function = function.get_user_function()
    annotations = _annotations(user_function)
    takes_context = _check_signature(name, user_function, bindings, annotations)
    deferred = _deferred_bindings(name, bindings, annotations)
    if deferred:
        # As the worker: the raw bindings of such a function come from the base extension, which marks
        # each binding the host must send as a reference.
        in_types = {b.name: annotations.get(b.name) for b in bindings if b.direction == "IN"}
        bindings = tuple(_binding(json.loads(raw)) for raw in deferred_bindings.raw_bindings(function, in_types))
        triggers = [b for b in bindings if b.type in TRIGGER_TYPES]
    return FunctionSpec(
        name=name,
        trigger=triggers[0],
        bindings=bindings,
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        takes_context=takes_context,
        annotations=annotations,
        retry_policy=function.get_settings_dict("retry_policy"),
        deferred_bindings_enabled=bool(deferred),
    )


def _binding(raw: dict[str, Any]) -> Binding:
    return Binding(name=raw["name"], type=raw["type"], direction=str(raw.get("direction", "IN")).upper(), raw=raw)


def _annotations(user_function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(user_function)
    except Exception:  # noqa: BLE001 - unresolvable string annotations: fall back to the raw objects
        return dict(getattr(user_function, "__annotations__", {}))


def _check_signature(
    name: str, user_function: Callable[..., Any], bindings: tuple[Binding, ...], annotations: dict[str, Any]
) -> bool:
    params = set(inspect.signature(user_function).parameters)
    takes_context = "context" in params
    expected = {b.name for b in bindings if b.name != "$return"}
    actual = params - {"context"}
    if actual != expected:
        missing = ", ".join(sorted(expected - actual)) or "-"
        extra = ", ".join(sorted(actual - expected)) or "-"
        raise IndexingError(
            f"Function {name}: parameters must match bindings "
            f"(missing params: {missing}; params without binding: {extra})"
        )
    for b in bindings:
        hint = annotations.get(b.name)
        if (
            b.direction == "OUT"
            and b.name != "$return"
            and hint is not None
            and typing.get_origin(hint) is not func.Out
        ):
            raise IndexingError(f"Function {name}: output binding '{b.name}' must be annotated func.Out[...]")
    return takes_context


def _deferred_bindings(name: str, bindings: tuple[Binding, ...], annotations: dict[str, Any]) -> set[str]:
    """The bindings whose parameter is an SDK type; raises where the worker would refuse the annotation."""
    deferred = {b.name for b in bindings if deferred_bindings.is_sdk_type(annotations.get(b.name))}
    for b in bindings:
        if b.name in deferred and (b.direction != "IN" or not deferred_bindings.accepts(b.type, annotations[b.name])):
            raise IndexingError(
                f'Function {name}: type of {b.name} binding "{b.type}" does not match its Python annotation '
                f'"{getattr(annotations[b.name], "__name__", annotations[b.name])}"'
            )
    return deferred

"""SDK-type ("deferred") bindings, decided and converted as the Python worker and the host do.

The worker (`azure_functions_worker.functions.Registry.validate_function_params`) asks the base
extension's registry, `azurefunctions.extensions.base.get_binding_registry()`, whether a parameter's
annotation is an SDK type (`check_supported_type`: a subclass of `SdkType`, such as the blob extension's
`BlobClient`). One such parameter enables deferred bindings for the function; the function's raw bindings
then come from the extension (`get_raw_bindings`), which marks each IN binding whose type has a registered
converter and whose annotation is an SDK type with `"properties": {"SupportsDeferredBinding": true}`.

For a binding so marked the host sends no content, only "model binding data": a reference (source
`AzureStorageBlobs`, JSON content with `Connection`, `ContainerName`, `BlobName`). The worker hands it to
the extension's converter (`BlobClientConverter.decode`), which builds the SDK client from the connection
setting in the environment. This module produces that reference and calls that converter, nothing else:
the client the function receives is the one the real package builds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

BLOB_SOURCE = "AzureStorageBlobs"
MODEL_BINDING_DATA = "model_binding_data"
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class DeferredBindingError(Exception):
    """An SDK-type annotation the worker would refuse, or a reference its converter cannot use."""


@dataclass(frozen=True)
class ModelBindingData:
    """The fields of the RPC's `ModelBindingData` message that the extensions' converters read."""

    version: str
    source: str
    content_type: str
    content: bytes


class ParamType(NamedTuple):
    """The one field of the worker's `ParamTypeInfo` that the extension's `get_raw_bindings` reads."""

    pytype: Any


def _base_extension() -> Any | None:
    try:
        from azurefunctions.extensions import base  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
    except ImportError:
        return None
    return base


def registry() -> Any | None:
    """The base extension's converter registry, or None where it is not installed (as the worker loads it)."""
    base = _base_extension()
    return base.get_binding_registry() if base is not None else None


def _datum(value: Any, datum_type: str) -> Any:
    """The extension's `Datum` (the worker's has the same two fields): what converters are handed."""
    base = _base_extension()
    if base is None:
        raise DeferredBindingError("azurefunctions-extensions-base is not installed")
    return base.Datum(value=value, type=datum_type)


def is_sdk_type(annotation: Any) -> bool:
    """The worker's `check_deferred_bindings_enabled` for one parameter."""
    found = registry()
    return found is not None and bool(found.check_supported_type(annotation))


def accepts(binding_type: str, annotation: Any) -> bool:
    """The worker's input type check for a deferred binding: a converter for the type that takes the annotation.

    Without one the worker falls back to its generic binding, which accepts only `str`/`bytes`, so an SDK
    type on, say, a queue trigger fails to load."""
    found = registry()
    converter = found.get(binding_type) if found is not None else None
    return converter is not None and bool(converter.check_input_type_annotation(annotation))


def raw_bindings(function: Any, in_types: Mapping[str, Any]) -> list[str]:
    """The raw binding JSON the worker sends for a function with deferred bindings enabled."""
    found = registry()
    if found is None:
        raise DeferredBindingError("azurefunctions-extensions-base is not installed")
    params = {name: ParamType(pytype) for name, pytype in in_types.items()}
    raw, _logs = found.get_raw_bindings(function, params)
    return list(raw)


def blob_reference(connection: str | None, container: str, blob_name: str) -> Any:
    """What the host sends for a deferred blob binding: a `model_binding_data` datum naming the blob."""
    content = {"Connection": connection or DEFAULT_CONNECTION, "ContainerName": container, "BlobName": blob_name}
    data = ModelBindingData("1.0", BLOB_SOURCE, "application/json", json.dumps(content).encode("utf-8"))
    return _datum(data, MODEL_BINDING_DATA)


def decode(binding_type: str, datum: Any, annotation: Any, trigger_metadata: Mapping[str, object]) -> Any:
    """The worker's `deferred_bindings_decode`: the extension's own converter builds the SDK object.

    The worker keeps what it built in a cache without bound (one client per parameter and blob, for the
    worker's life); this host builds a new one per invocation, so an app must rely on neither."""
    found = registry()
    converter = found.get(binding_type) if found is not None else None
    if converter is None:
        raise DeferredBindingError(f"no converter is registered for '{binding_type}' bindings")
    # Trigger metadata reaches converters as worker datums: strings as they are, the rest as JSON.
    metadata = {
        k: _datum(v, "string") if isinstance(v, str) else _datum(json.dumps(v, default=str), "json")
        for k, v in trigger_metadata.items()
    }
    return converter.decode(datum, trigger_metadata=metadata, pytype=annotation)

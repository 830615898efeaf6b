"""Invoking a function as the Python worker does, with the host's input and output bindings.

Sync functions run on a bounded thread pool (the worker's `PYTHON_THREADPOOL_THREAD_COUNT`), async ones
on the loop, both under one concurrency limit. A non-HTTP function that returns a value fails, as in
Azure. Outputs are written only after the function succeeds and only when a value was set. A deferred
binding's reference (model binding data) is turned into the SDK object by the extension's own converter,
on the worker's side of the call, so a failure there fails the invocation as in Azure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.blob import InputStream

from emulators.functions_host import deferred_bindings
from emulators.functions_host.binding_expressions import render, resolve_app_settings
from emulators.functions_host.index import Binding, FunctionSpec
from emulators.functions_host.storage import StorageClients
from emulators.functions_host.tracing import InvocationTracing

log = logging.getLogger("emulators.functions_host.invocations")
T = TypeVar("T")


class InvocationFailed(Exception):
    """The function raised, timed out, returned where it may not, or an output could not be written."""


class Out(func.Out[T], Generic[T]):
    """The worker's concrete `func.Out`: holds the value the function sets."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True)
class TraceContext:
    trace_parent: str
    trace_state: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryContext:
    retry_count: int = 0
    max_retry_count: int = 0
    exception: BaseException | None = None


class Context(func.Context):
    """The worker's concrete Context."""

    def __init__(self, function_name: str, function_directory: str, invocation_id: str, trace_parent: str) -> None:
        self._function_name = function_name
        self._function_directory = function_directory
        self._invocation_id = invocation_id
        self._thread_local_storage = threading.local()
        self._trace_context = TraceContext(trace_parent=trace_parent)
        self._retry_context = RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._thread_local_storage

    @property
    def trace_context(self) -> TraceContext:  # type: ignore[override]
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:  # type: ignore[override]
        return self._retry_context


class Invoker:
    def __init__(
        self,
        app_dir: Path,
        settings: Mapping[str, str],
        storage: StorageClients,
        *,
        max_concurrency: int,
        function_timeout: timedelta | None,
        tracing: InvocationTracing | None = None,
    ) -> None:
        self.tracing = tracing or InvocationTracing({}, settings)
        self.app_dir = app_dir
        self.settings = settings
        self.storage = storage
        self.function_timeout = function_timeout
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="invoke")
        self._limit = asyncio.Semaphore(max_concurrency)
        self.running = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, spec: FunctionSpec, trigger_value: Any, binding_data: Mapping[str, object]) -> Any:
        """Run one invocation; returns the `$return` value. Raises InvocationFailed."""
        invocation_id = str(uuid.uuid4())
        started = time.monotonic()
        async with self._limit:
            self.running += 1
            try:
                with self.tracing.invocation(spec.name, invocation_id) as traceparent:
                    result = await self._invoke(spec, trigger_value, binding_data, invocation_id, traceparent)
            except Exception as exc:
                ms = (time.monotonic() - started) * 1000
                log.warning(
                    "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s: %s",
                    spec.name,
                    invocation_id,
                    ms,
                    type(exc).__name__,
                    exc,
                    exc_info=not isinstance(exc, InvocationFailed),
                )
                raise InvocationFailed(f"{spec.name}: {exc}") from exc
            finally:
                self.running -= 1
        ms = (time.monotonic() - started) * 1000
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)", spec.name, invocation_id, ms)
        return result

    async def _invoke(
        self,
        spec: FunctionSpec,
        trigger_value: Any,
        binding_data: Mapping[str, object],
        invocation_id: str,
        traceparent: str,
    ) -> Any:
        kwargs: dict[str, Any] = {spec.trigger.name: _worker_value(spec, spec.trigger, trigger_value, binding_data)}
        for binding in spec.inputs():
            value = await self._read_input(spec, binding, binding_data)
            kwargs[binding.name] = _worker_value(spec, binding, value, {})
        outs: dict[str, Out[Any]] = {b.name: Out() for b in spec.outputs()}
        kwargs.update(outs)
        if spec.takes_context:
            kwargs["context"] = Context(spec.name, str(self.app_dir), invocation_id, traceparent)
        timeout = self.function_timeout.total_seconds() if self.function_timeout else None
        if spec.is_async:
            result = await asyncio.wait_for(spec.user_function(**kwargs), timeout)
        else:
            call = self.tracing.in_worker(traceparent, functools.partial(spec.user_function, **kwargs))
            # A timed-out sync function keeps its thread (Python cannot kill it); the invocation fails.
            result = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self._pool, call), timeout)
        if result is not None and not spec.has_return_binding():
            raise InvocationFailed(f"function {spec.name} without a $return binding returned a non-None value")
        for binding in spec.outputs():
            value = outs[binding.name].get()
            if value is not None:  # the worker writes nothing for an output left unset
                await self._write_output(binding, value, binding_data)
        return result

    def _path(self, binding: Binding, key: str, binding_data: Mapping[str, object]) -> str:
        return render(resolve_app_settings(str(binding.get(key)), self.settings), binding_data)

    async def _read_input(self, spec: FunctionSpec, binding: Binding, binding_data: Mapping[str, object]) -> Any:
        if binding.type != "blob":
            raise InvocationFailed(f"input binding type '{binding.type}' is not supported by this host")
        path = self._path(binding, "path", binding_data)
        container, _, name = path.partition("/")
        if binding.deferred:
            return deferred_bindings.blob_reference(binding.get("connection"), container, name)
        blob = self.storage.blob_service(binding.get("connection")).get_blob_client(container, name)
        try:
            data = await (await blob.download_blob()).readall()
        except ResourceNotFoundError:
            return None  # Azure passes None for a missing input blob
        if spec.annotations.get(binding.name) is str:
            return data.decode("utf-8")
        if spec.annotations.get(binding.name) is bytes:
            return data
        return InputStream(data=data, name=path, uri=blob.url, length=len(data))

    async def _write_output(self, binding: Binding, value: Any, binding_data: Mapping[str, object]) -> None:
        connection = binding.get("connection")
        if binding.type == "blob":
            path = self._path(binding, "path", binding_data)
            container, _, name = path.partition("/")
            data = value.encode("utf-8") if isinstance(value, str) else value
            if not isinstance(data, bytes | bytearray):
                raise InvocationFailed(f"blob output '{binding.name}' takes str or bytes, got {type(value).__name__}")
            container_client = self.storage.blob_service(connection).get_container_client(container)
            await self.storage.ensure_container(container_client)
            await container_client.upload_blob(name, bytes(data), overwrite=True)
        elif binding.type == "queue":
            queue_name = resolve_app_settings(str(binding.get("queueName")), self.settings).lower()
            items = value if isinstance(value, list) else [value]
            await self.storage.send_messages(connection, queue_name, [_queue_text(binding, v) for v in items])
        else:
            raise InvocationFailed(f"output binding type '{binding.type}' is not supported by this host")


def _worker_value(spec: FunctionSpec, binding: Binding, value: Any, trigger_metadata: Mapping[str, object]) -> Any:
    """What the function receives: the host's value, or for a deferred binding what the converter builds."""
    if not binding.deferred:
        return value
    return deferred_bindings.decode(binding.type, value, spec.annotations.get(binding.name), trigger_metadata)


def _queue_text(binding: Binding, value: Any) -> str:
    if isinstance(value, func.QueueMessage):
        return value.get_body().decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise InvocationFailed(
        f"queue output '{binding.name}' takes str, bytes or QueueMessage, got {type(value).__name__}"
    )

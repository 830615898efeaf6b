"""The node-local inference server: `python -m batch_tasks.node.server`, started by the pool's start task.

One process per node owns the accelerator: the CUDA context, the sessions and their warmed shapes are paid
for once per node instead of once per task. It listens on a Unix socket in `AZ_BATCH_NODE_SHARED_DIR`
(protocol: `batch_tasks.protocol`) and answers:

- `health`: readiness, the provider each model runs on, batching and request counters;
- `read`: one photo at a node-local path (on a Batch node, under its root: `batch_tasks.node.inputs`) → its
  model's result (text lines, labels or boxes) and, asked, the overlay JPEG in the reply (never a file), for tools;
- `job`: a task's whole job: read the photo, write `results/{job_id}/…`, post the completion message.

It stops as `batch_tasks.node.shutdown` says (the requests in flight finish first), on SIGTERM or when its
watchdog (`batch_tasks.node.watchdog`) finds every run failing on a poisoned device.

A request's photo is decoded in a worker process, then joins its model's dynamic batch. The server
reports ready only after every model in `SITELENS_WARM_MODELS` is loaded and warmed (or has failed to, after
`batch_tasks.node.warmup`'s retries: a broken model fails its own photos, never the server), so the start task,
and with it Batch, never sends a task to a cold node. Every kind of model (`batch_tasks.models.serving`) is served
the same way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from batch_tasks import protocol, telemetry
from batch_tasks.errors import FINAL_ERRORS, ModelUnavailable, NodeError, Stopped
from batch_tasks.models import serving
from batch_tasks.models.serving import KindResult
from batch_tasks.node import gauges, inputs, jobs, listener, warmup
from batch_tasks.node.decoding import DecodePool, Mapped, discard
from batch_tasks.node.registry import Loaded, Registry
from batch_tasks.node.settings import NodeSettings
from batch_tasks.node.shutdown import EXIT_FAILING, Shutdown
from batch_tasks.node.storage import AzureResultStore, ResultStore
from batch_tasks.node.watchdog import Watchdog
from batch_tasks.ocr import sessions

log = logging.getLogger("batch_tasks.server")
Inferred = tuple[Loaded, KindResult, bytes, dict[str, float]]  # the model that read, its result, overlay, timings


def _providers(choice: str) -> list[str] | None:
    return {"cuda": [sessions.CUDA], "cpu": [sessions.CPU]}.get(choice)


class NodeServer:
    def __init__(self, settings: NodeSettings, store: ResultStore | None = None, inputs_in: Path | None = None) -> None:
        self.settings = settings
        self.input_root = inputs_in  # requests' paths resolve under it; None: any path (off a Batch node)
        self.started = time.monotonic()
        self.ready = asyncio.Event()
        self.requests: Counter[str] = Counter()
        self.shutdown = Shutdown()
        self.watchdog = Watchdog(lambda why: self.shutdown.request(why, EXIT_FAILING))
        self.pool = DecodePool(settings.decode_workers)  # before any session: workers never inherit CUDA state
        self._store = store
        threads = settings.intra_op_threads
        self.registry = Registry(
            settings.models_dir,
            lambda folder: serving.load_model(folder, _providers(settings.provider), threads=threads),
            capacity=settings.model_cache, max_batch=settings.max_batch, max_wait=settings.max_wait_s,
            max_queue=settings.max_queue, download=self._download if settings.storage.configured else None,
        )  # fmt: skip

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            self._store = AzureResultStore.from_settings(self.settings.storage)
        return self._store

    def _download(self, name: str, version: str, dest: Path) -> None:
        try:
            AzureResultStore.from_settings(self.settings.storage).download_model(name, version, dest)
        except NodeError as exc:
            if exc.transient:  # storage did not answer: the version may download on the next attempt
                raise ModelUnavailable(exc.message) from exc
            # UnknownModel (no such version: final for the job), or storage_permanent: storage refused this node
            # (a role not yet assigned, no `models` container), which says nothing of the model and is not final.
            raise

    async def warm(self) -> None:
        await asyncio.to_thread(self.pool.prime)
        await warmup.warm_up(self.registry, self.settings.warm_models)
        if self.settings.storage.configured:
            await asyncio.to_thread(lambda: self.store)  # create the SDK clients before the first task
        self.ready.set()
        log.info("ready: %s", ", ".join(f"{m.model_id} on {m.engine.providers[0]}" for m in self.registry.peek()))

    # --- requests ------------------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    header = await reader.readexactly(protocol.header_size())
                    body = await reader.readexactly(protocol.frame_length(header))
                    request = protocol.decode_body(body)
                except asyncio.IncompleteReadError:
                    return  # the client is done
                except protocol.ProtocolError as exc:
                    writer.write(protocol.encode(NodeError(str(exc), code="bad_request").reply()))
                    return
                with self.shutdown.in_flight():  # a stop lets it finish, reply written
                    reply = await self.dispatch(request)
                    writer.write(protocol.encode(reply))
                    await writer.drain()
        except (ConnectionError, BrokenPipeError):
            return  # the task went away (killed by Batch on its wall clock, say); its work is not lost
        finally:
            writer.close()

    async def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        self.requests[str(op)] += 1
        try:
            if op == "health":
                return self.health()
            if op not in ("read", "job"):
                raise NodeError(f"unknown op {op!r}", code="bad_request")
            if self.shutdown.requested.is_set():  # on a connection opened before the stop: the stop is not delayed
                raise Stopped(f"the server is stopping ({self.shutdown.reason})")
            await self.ready.wait()
            return await (self._read(request) if op == "read" else self._job(request))
        except NodeError as exc:
            self.requests[f"failed:{exc.code}"] += 1
            return exc.reply()
        except Exception as exc:  # a dead decode worker, a bug: a retryable reply, never a dropped connection
            log.exception("%s request failed unexpectedly", op)
            error = NodeError(f"{type(exc).__name__}: {exc}", code="inference_failed")
            self.requests[f"failed:{error.code}"] += 1
            return error.reply()

    async def _infer(self, model_id: str, path: str) -> Inferred:
        """Decode, batch, run, overlay; raises NodeError (UnknownModel, Overloaded, a decode's code, ...)."""
        with inputs.readable(path, self.input_root) as source:  # refused before a model is loaded for it
            # Held while the photo decodes and runs: a model loaded meanwhile for another request may evict this
            # one, and its batcher must still take this photo (an eviction is not a shutdown). Never on the default
            # executor: a burst waiting for a version to load would hold its threads, which storage calls need.
            loaded = await self.registry.held(model_id)
            try:
                return await self._infer_held(loaded, path, source)
            finally:
                self.registry.release(loaded)

    async def _infer_held(self, loaded: Loaded, path: str, source: str) -> Inferred:
        model_id = loaded.model_id
        t0 = time.perf_counter()
        with telemetry.tracer().start_as_current_span("decode"):
            decoding = self.pool.decode(source, loaded.engine.decode_long_side)
            try:
                decoded = await asyncio.wrap_future(decoding)
            except asyncio.CancelledError:  # the server is stopping: the block a worker may still make is freed
                discard(decoding)
                raise
        if decoded.error is not None:
            code, message = decoded.error
            raise NodeError(message, code=code)
        mapped = Mapped(decoded)
        try:
            t1 = time.perf_counter()
            try:  # queue wait and the batch's run; the batch span links back to this one
                with telemetry.tracer().start_as_current_span("infer"):
                    result = await asyncio.wrap_future(loaded.batcher.submit(mapped.image))
            except Exception as exc:
                error = serving.failure(exc)  # Overloaded, Stopped, model_output_invalid, model_out_of_memory, ...
                if error is not exc:
                    log.exception("%s failed on %s", model_id, path)
                if error.code == "inference_failed":  # the run raised: the model's, or the device's, not the photo's
                    self.watchdog.run_failed(model_id, exc, on_gpu=loaded.engine.on_gpu)
                raise error from exc
            self.watchdog.read(model_id, on_gpu=loaded.engine.on_gpu)
            t2 = time.perf_counter()
            marks = serving.marks(result).to_decoded(mapped.image)
            with telemetry.tracer().start_as_current_span("overlay"):
                overlay = await asyncio.wrap_future(self.pool.draw_overlay(decoded, marks))
            t3 = time.perf_counter()
        finally:
            mapped.close()
        timings = {"decode": (t1 - t0) * 1000, "queue_and_infer": (t2 - t1) * 1000, "overlay": (t3 - t2) * 1000}
        return loaded, result, overlay, timings

    async def _read(self, request: dict[str, Any]) -> dict[str, Any]:
        if "overlay_path" in request:  # a tool of an earlier release: said, not silently left without its file
            raise NodeError('overlay_path is refused: send "overlay": true for overlay_jpeg_b64', code="bad_request")
        model, path = str(request.get("model") or ""), str(request.get("path") or "")
        loaded, result, overlay, timings = await self._infer(model, path)
        wanted = {"overlay_jpeg_b64": base64.b64encode(overlay).decode()} if request.get("overlay") is True else {}
        if len(wanted.get("overlay_jpeg_b64", "")) > protocol.MAX_FRAME * 3 // 4:  # a quarter of the frame for the rest
            raise NodeError(f"the overlay's {len(overlay)} bytes do not fit in a reply", code="too_large")
        return {"ok": True, "task": loaded.engine.manifest.task, "result": result.to_dict(), "timings_ms": timings,
                "provider": loaded.engine.providers[0], **wanted}  # fmt: skip

    async def _job(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            job = jobs.JobRequest.from_message(request)
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeError(f"malformed job request: {exc}", code="bad_request") from exc
        attributes = {"sitelens.model": job.model, "sitelens.attempt": job.attempt, "sitelens.task_id": job.task_id,
                      "sitelens.task_started_at": job.started_at}  # fmt: skip
        with telemetry.job_span("node.job", job.job_id, parent=job.traceparent, kind=SpanKind.SERVER,
                                attributes=attributes) as span:  # fmt: skip
            try:
                # The completion message carries this span, so the app's completion hangs under the node's work.
                traced = replace(job, traceparent=telemetry.current_traceparent() or job.traceparent)
                return await self._run_job(traced)
            except NodeError as exc:
                telemetry.fail(span, exc.code)
                raise

    async def _run_job(self, job: jobs.JobRequest) -> dict[str, Any]:
        try:
            loaded, result, overlay, timings = await self._infer(job.model, job.path)
        except NodeError as exc:
            if exc.code in FINAL_ERRORS:  # tell the app now rather than after Batch's retries
                await asyncio.to_thread(self.store.post_completion, jobs.failed(job, exc.code, exc.message))
            raise
        provider = loaded.engine.providers[0]  # the model that read it, even if evicted since
        task = loaded.engine.manifest.task
        document = jobs.result_document(job, result, provider=provider, timings_ms=timings, task=task)
        with telemetry.tracer().start_as_current_span("storage.write_results"):
            path, document = await asyncio.to_thread(self.store.write_results, job.job_id, document, overlay)
        with telemetry.tracer().start_as_current_span("storage.post_completion", kind=SpanKind.PRODUCER):
            await asyncio.to_thread(self.store.post_completion, jobs.succeeded(job, path, document))
        counted = {"lines" if task == "ocr" else "found": serving.count(result)}
        return {"ok": True, "outcome": "succeeded", "result_path": path, "checksum": jobs.checksum(document),
                **counted, "timings_ms": timings, "provider": provider}  # fmt: skip

    def health(self) -> dict[str, Any]:
        models = [
            {"id": m.model_id, "task": m.engine.manifest.task, "provider": m.engine.providers[0],
             "load_s": round(m.load_s, 2), "warm_runs": m.warm_runs, "max_batch": m.batcher.max_batch,
             "waiting": m.batcher.waiting, "batching": m.batcher.stats.to_dict()}
            for m in self.registry.peek()
        ]  # fmt: skip
        return {
            "ok": True,
            "ready": self.ready.is_set() and not self.shutdown.requested.is_set(),
            "stopping": self.shutdown.reason,  # why, once the server is stopping (it then takes no new requests)
            "pid": os.getpid(),
            "gpu": any(m["provider"] == sessions.CUDA for m in models),
            "models": models,
            "decode_workers": self.pool.workers,
            "decode_restarts": self.pool.restarts,
            "max_batch": self.settings.max_batch,
            "requests": dict(self.requests),
            "evictions": self.registry.evictions,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }


async def serve(settings: NodeSettings) -> int:
    """Serve until stopped; returns the process's exit code."""
    server = NodeServer(settings, inputs_in=inputs.input_root(os.environ))
    gauges.register(lambda: sum(m.batcher.waiting for m in server.registry.peek()))
    return await listener.listen(server, settings)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = NodeSettings.from_env()
        telemetry.setup("sitelens-node")
        return asyncio.run(serve(settings))
    except Exception:
        log.exception("the node server failed")
        return 1
    finally:
        telemetry.flush()


if __name__ == "__main__":
    sys.exit(main())

"""The models a node keeps loaded: loaded on first use, warmed, and evicted least-recently-used.

A model id is `{name}/{version}` (e.g. `ocr/ppocrv4`), the same path as in the `models` container. The
local folder `models_dir/{name}/{version}` is used when its manifest verifies; otherwise the version is
downloaded from the registry into that folder first. Every loaded model has its own batcher thread, so
two versions served side by side (a traffic split) never share a batch, and one model's failure (a load
that fails, a run out of memory, an output that breaks its manifest) only fails that model's photos. Any
kind (`batch_tasks.models.serving`) is kept the same way; a model's `limits.max_batch` overrides the node's.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from batch_tasks.artifacts import is_model_id
from batch_tasks.errors import (
    ModelNotServed,
    ModelOutOfMemory,
    ModelOutputInvalid,
    ModelUnavailable,
    NodeError,
    UnknownModel,
)
from batch_tasks.models.manifest import ManifestError, load
from batch_tasks.models.serving import KINDS, KindResult, ServedModel, failure
from batch_tasks.models.vision_spec import DETECT_FORMATS
from batch_tasks.node.batching import Batcher
from batch_tasks.ocr.imaging import DecodedImage

log = logging.getLogger(__name__)
# A model whose files verify but that does not load (or warm) is not tried again for this long: a broken version
# would otherwise be loaded again for each of its photos, holding the lock every other model's first use waits on.
RETRY_FAILED_LOAD_S = 60.0


@dataclass
class Loaded:
    model_id: str
    engine: ServedModel
    batcher: Batcher[DecodedImage, KindResult]
    load_s: float
    warm_runs: int
    # Requests that hold this model (`Registry.hold`) and have not released it. An evicted model's batcher is
    # stopped only once none is left: a request took it before decoding its photo and queues the photo after.
    holders: int = 0
    evicted: bool = False


Loader = Callable[[Path], ServedModel]
Downloader = Callable[[str, str, Path], None]  # raises UnknownModel, ModelUnavailable or storage_permanent


def _one_photo_can_cause(exc: Exception) -> bool:
    """Whether a batch's error may be one photo's doing, so the batch runs again in halves: memory the photo's
    size asked for, or output that is not finite for that input (an overflow). Both are final for the photo;
    shared, they would fail every batch-mate with it. Anything else would only fail again."""
    return isinstance(failure(exc), ModelOutOfMemory | ModelOutputInvalid)


def _manifest_bytes(folder: Path) -> bytes | None:
    try:
        return (folder / "manifest.json").read_bytes()
    except OSError:
        return None


def _not_served(model_id: str, folder: Path) -> ModelNotServed | None:
    """The error for a manifest in `folder` whose kind (`task`), or detect output format, this package does not
    serve: a model published by a newer package. None when it serves both, or the manifest names neither (not
    JSON, no task: a damaged manifest, not a newer one)."""
    try:
        doc = json.loads(_manifest_bytes(folder) or b"")
    except ValueError:
        return None
    task = doc.get("task") if isinstance(doc, dict) else None
    output = doc.get("output") if isinstance(doc, dict) else None
    output_format = output.get("format") if isinstance(output, dict) else None
    if isinstance(task, str) and task not in KINDS:
        what = f"kind '{task}'"
    elif task == "detect" and isinstance(output_format, str) and output_format not in DETECT_FORMATS:
        what = f"detect output format '{output_format}'"
    else:
        return None
    return ModelNotServed(
        f"this node's package does not serve {what} (model {model_id}; it serves kinds {', '.join(KINDS)}, detect "
        f"formats {', '.join(DETECT_FORMATS)}): replace the nodes with ones running a package that serves it"
    )


class Registry:
    def __init__(
        self,
        models_dir: Path,
        load_engine: Loader,
        *,
        capacity: int,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        download: Downloader | None = None,
    ) -> None:
        self.models_dir, self._load_engine, self._download = models_dir, load_engine, download
        self.capacity, self._max_batch, self._max_wait, self._max_queue = capacity, max_batch, max_wait, max_queue
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._failed: dict[str, tuple[float, NodeError]] = {}  # model id -> (when, what its load raised)
        # model id -> the manifest a download brought that does not parse (touched under `_loading` only): the
        # registry's own, which a version keeps (it is published once), so while the local copy is
        # byte-identical to it, downloading again cannot help.
        self._unparsable: dict[str, bytes] = {}
        # `_lock` guards the tables for moments; `_loading` lets one load run at a time (a load holds the
        # accelerator's attention anyway). Health and the warm models never wait for a load.
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        # Where `held` waits for a load: one thread, as loads run one at a time. Waiting on the event loop's default
        # executor (min(32, cpus + 4) threads: 8 on a 4-vCPU node), a burst for a version still loading (a node just
        # started, a download of a minute) held every thread, and the other models' requests, result writes and
        # completion posts queued behind the load.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        self.evictions = 0

    def get(self, model_id: str) -> Loaded:
        """The loaded model, loading (and maybe downloading) it first. Blocking: call from a worker thread.
        Not held: an eviction may stop its batcher at any time (a request uses `hold`).

        Raises:
            UnknownModel, ModelUnavailable.
        """
        loaded = self.hold(model_id)
        self.release(loaded)
        return loaded

    def hold(self, model_id: str) -> Loaded:
        """As `get`, and the model's batcher takes photos until `release`, even if the model is evicted meanwhile
        (another model loaded while this one's photo decodes). Every `hold` needs its `release`.

        Raises:
            UnknownModel, ModelUnavailable.
        """
        warm = self._held_if_loaded(model_id)
        if warm is not None:
            return warm
        with self._loading:
            warm = self._warm(model_id)  # the load this one waited for may have been its own model's
            if warm is not None:
                return warm
            loaded = self._load(model_id)
            loaded.holders = 1
            with self._lock:
                self._failed.pop(model_id, None)
                self._loaded[model_id] = loaded
                evicted = [self._loaded.popitem(last=False)[1] for _ in range(len(self._loaded) - self.capacity)]
                for old in evicted:
                    old.evicted = True
                idle = [old for old in evicted if old.holders == 0]  # the others stop on their last release
            for old in evicted:
                self.evictions += 1
                log.info("evicted %s (least recently used; %d kept)", old.model_id, self.capacity)
            for old in idle:
                old.batcher.stop()  # finishes what it holds; its sessions go with the last reference
            return loaded

    async def held(self, model_id: str) -> Loaded:
        """`hold` for the event loop: a loaded model at once, without leaving it; one still to load on the
        registry's loader thread, after the holds queued there before it, so no thread of the loop's default
        executor waits for a load. Every `held` needs its `release`.

        Raises:
            UnknownModel, ModelUnavailable.
        """
        warm = self._held_if_loaded(model_id)  # the tables' lock is held for moments only: fine on the loop
        if warm is not None:
            return warm
        # In the request's context, as `to_thread` would: the load's downloads and logs belong to its trace.
        in_context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._loader, in_context.run, self.hold, model_id)

    def _held_if_loaded(self, model_id: str) -> Loaded | None:
        if not is_model_id(model_id):
            raise UnknownModel(f"{model_id!r} is not a model id of the form name/version")
        return self._warm(model_id)

    def release(self, loaded: Loaded) -> None:
        """End a `hold`. Never waits: the last holder of an evicted model stops its batcher on a thread of its own
        (the server releases from its event loop, and a stop waits for the queued photos to run)."""
        with self._lock:
            loaded.holders -= 1
            last = loaded.evicted and loaded.holders == 0
        if last:
            threading.Thread(target=loaded.batcher.stop, name=f"unload-{loaded.model_id}", daemon=True).start()

    def _warm(self, model_id: str) -> Loaded | None:
        """The model if loaded (now the most recently used, and held); raises its load's error within the retry
        wait."""
        with self._lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                self._loaded[model_id].holders += 1
                return self._loaded[model_id]
            when, error = self._failed.get(model_id, (float("-inf"), None))
        if error is not None and time.monotonic() - when < RETRY_FAILED_LOAD_S:
            raise type(error)(error.message)
        return None

    def peek(self) -> list[Loaded]:
        with self._lock:
            return list(self._loaded.values())

    def _folder(self, model_id: str) -> Path:
        name, version = model_id.split("/")
        folder = self.models_dir / name / version
        try:
            load(folder)
            return folder
        except ManifestError as exc:
            if self._download is None:
                raise _not_served(model_id, folder) or UnknownModel(
                    f"model {model_id} is not in {self.models_dir} ({exc})"
                ) from exc
            unparsable = self._unparsable.get(model_id)
            if unparsable is not None and _manifest_bytes(folder) == unparsable:
                error = _not_served(model_id, folder) or ModelUnavailable(
                    f"model {model_id} has a manifest this node cannot read, as the registry stores it: {exc}"
                )
                raise self._failing(model_id, error) from exc
        try:
            self._download(name, version, folder)
            load(folder)
        except ManifestError as exc:
            downloaded = _manifest_bytes(folder)
            try:
                load(folder, verify=False)
            except ManifestError:  # the manifest itself, not a file it lists: the same at every download
                if downloaded is not None:
                    self._unparsable[model_id] = downloaded
            # A failed load like any other: not downloaded again for each of its photos within the retry wait.
            error = _not_served(model_id, folder) or ModelUnavailable(
                f"model {model_id} downloaded but does not verify: {exc}"
            )
            raise self._failing(model_id, error) from exc
        except OSError as exc:  # the node's own disk (full, read-only): this model's failure, not the server's
            error = ModelUnavailable(f"model {model_id} could not be written to {folder}: {exc}")
            raise self._failing(model_id, error) from exc
        return folder  # a download that failed raised its own code (see `Downloader`)

    def failed_to_load(self, model_id: str) -> bool:
        """Whether the model's files were in place but did not load, within the retry wait (asking again now
        meets the same failure)."""
        with self._lock:
            when, _ = self._failed.get(model_id, (float("-inf"), None))
        return time.monotonic() - when < RETRY_FAILED_LOAD_S

    def _failing(self, model_id: str, error: NodeError) -> NodeError:
        """`error`, recorded as the model's failed load: `_warm` raises it again until the retry wait is over."""
        with self._lock:
            self._failed[model_id] = (time.monotonic(), error)
        return error

    def _load(self, model_id: str) -> Loaded:
        started = time.perf_counter()
        folder = self._folder(model_id)
        not_served = _not_served(model_id, folder)  # a kind the manifest parser knows but no loader serves
        if not_served is not None:
            raise self._failing(model_id, not_served)
        try:
            engine = self._load_engine(folder)
            runs = engine.warm()
        except Exception as exc:  # ONNX Runtime's own errors (InvalidProtobuf, ...) are not RuntimeErrors
            # Whatever a model's load raises stays that model's failure: its photos fail, the server serves on.
            error: NodeError = ModelUnavailable(f"model {model_id} did not load: {type(exc).__name__}: {exc}")
            if isinstance(failure(exc), ModelOutOfMemory):  # warm-up ran out of its arena or the device
                error = ModelOutOfMemory(f"model {model_id} did not fit while warming: {exc}")
            raise self._failing(model_id, error) from exc
        batcher: Batcher[DecodedImage, KindResult] = Batcher(
            engine.run_batch, max_batch=engine.max_batch or self._max_batch, max_wait=self._max_wait,
            max_queue=self._max_queue, name=model_id,
            split_when=_one_photo_can_cause,
        )  # fmt: skip
        load_s = time.perf_counter() - started
        log.info("loaded %s on %s in %.1f s (%d warm-up runs)", model_id, engine.providers[0], load_s, runs)
        return Loaded(model_id, engine, batcher, load_s, runs)

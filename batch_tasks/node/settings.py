"""The node server's typed settings, read once from the environment the start task gives it.

| variable | meaning | default |
|---|---|---|
| `AZ_BATCH_NODE_SHARED_DIR` | socket, pid file and log (`SITELENS_SOCKET` overrides the socket) | required |
| `SITELENS_MODELS_DIR` | model folders `{name}/{version}/`; downloads land here | `$AZ_BATCH_NODE_SHARED_DIR/models` |
| `SITELENS_STORAGE_CONNECTION` | storage connection string (local Azurite only) | - |
| `SITELENS_STORAGE_BLOB_URL`, `SITELENS_STORAGE_QUEUE_URL` | storage endpoints in Azure | - |
| `SITELENS_NODE_CLIENT_ID` | client id of the pool's user-assigned managed identity | - |
| `SITELENS_PROVIDER` | `cuda`, `cpu` or `auto` (CUDA when present) | `auto` |
| `SITELENS_DECODE_WORKERS` | decode processes | cores - 1 (at least 1) |
| `SITELENS_MAX_BATCH`, `SITELENS_MAX_WAIT_MS` | dynamic batching: photos per run, wait for a batch to fill | `8`, `5` |
| `SITELENS_MAX_QUEUE` | photos waiting before new requests get `overloaded` | `256` |
| `SITELENS_MODEL_CACHE` | model versions kept loaded (least recently used goes) | `4` |
| `SITELENS_WARM_MODELS` | models loaded and warmed before the server reports ready | `ocr/ppocrv4` |
| `SITELENS_INTRA_OP_THREADS` | ONNX Runtime threads per session (CPU provider), at least 1 | all cores |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batch_tasks.artifacts import is_model_id
from batch_tasks.protocol import socket_path

# Every node serves every site, so each model the routing table sends photos to comes round on each node: with
# fewer slots than models in rotation, each model's turn loads it again (seconds on a GPU). 4 holds the default
# model and an A/B pair with one to spare; a loaded PP-OCRv4 version is about 0.5 GiB of the server's memory on
# the CPU (docs/node.md). `sitelens models route` warns when a routing table sends photos to more than this.
DEFAULT_MODEL_CACHE = 4


class NodeSettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None = None
    blob_url: str | None = None
    queue_url: str | None = None
    client_id: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.connection_string or (self.blob_url and self.queue_url))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StorageSettings:
        return cls(
            connection_string=env.get("SITELENS_STORAGE_CONNECTION") or None,
            blob_url=env.get("SITELENS_STORAGE_BLOB_URL") or None,
            queue_url=env.get("SITELENS_STORAGE_QUEUE_URL") or None,
            client_id=env.get("SITELENS_NODE_CLIENT_ID") or None,
        )


@dataclass(frozen=True)
class NodeSettings:
    shared_dir: Path
    socket: Path
    models_dir: Path
    storage: StorageSettings
    provider: str = "auto"
    decode_workers: int = 1
    max_batch: int = 8
    max_wait_s: float = 0.005
    max_queue: int = 256
    model_cache: int = DEFAULT_MODEL_CACHE
    warm_models: tuple[str, ...] = ("ocr/ppocrv4",)
    intra_op_threads: int | None = None

    @property
    def pid_file(self) -> Path:
        return self.shared_dir / "sitelens-server.pid"

    @property
    def log_file(self) -> Path:
        return self.shared_dir / "sitelens-server.log"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NodeSettings:
        env = os.environ if env is None else env
        shared = env.get("AZ_BATCH_NODE_SHARED_DIR")
        if not shared:
            raise NodeSettingsError("AZ_BATCH_NODE_SHARED_DIR is not set: the server runs on a Batch node")
        shared_dir = Path(shared)
        provider = env.get("SITELENS_PROVIDER", "auto").lower()
        if provider not in ("auto", "cuda", "cpu"):
            raise NodeSettingsError(f"SITELENS_PROVIDER must be auto, cuda or cpu, not {provider!r}")
        cores = os.cpu_count() or 1
        return cls(
            shared_dir=shared_dir,
            socket=Path(env["SITELENS_SOCKET"]) if env.get("SITELENS_SOCKET") else socket_path(shared_dir),
            models_dir=Path(env.get("SITELENS_MODELS_DIR") or shared_dir / "models"),
            storage=StorageSettings.from_env(env),
            provider=provider,
            decode_workers=_int(env, "SITELENS_DECODE_WORKERS", max(1, cores - 1), 1),
            max_batch=_int(env, "SITELENS_MAX_BATCH", 8, 1),
            max_wait_s=_int(env, "SITELENS_MAX_WAIT_MS", 5, 0) / 1000,
            max_queue=_int(env, "SITELENS_MAX_QUEUE", 256, 1),
            model_cache=_int(env, "SITELENS_MODEL_CACHE", DEFAULT_MODEL_CACHE, 1),
            warm_models=_model_ids(env.get("SITELENS_WARM_MODELS", "ocr/ppocrv4")),
            # 0 only when unset (an explicit 0 is refused): ONNX Runtime then takes all cores.
            intra_op_threads=_int(env, "SITELENS_INTRA_OP_THREADS", 0, 1) or None,
        )


def _model_ids(text: str) -> tuple[str, ...]:
    """`SITELENS_WARM_MODELS`, comma-separated model ids; spaces around each are not part of it."""
    ids = tuple(m.strip() for m in text.split(",") if m.strip())
    wrong = [m for m in ids if not is_model_id(m)]
    if wrong:
        raise NodeSettingsError(f"SITELENS_WARM_MODELS must list model ids (name/version), not {wrong[0][:80]!r}")
    return ids


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise NodeSettingsError(f"{name} must be an integer, not {raw!r}") from exc
    if value < minimum:
        raise NodeSettingsError(f"{name} must be at least {minimum}, not {value}")
    return value

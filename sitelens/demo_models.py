"""`sitelens demo --models` (`make demo-models`): after the OCR demo, a second kind of model, brought as a user would.

PP-OCR's text-direction classifier (the .onnx beside the OCR model) becomes a classify model folder with
`sitelens models init`, is published with `sitelens models publish` and routed to one site with
`sitelens models route`; two text lines, one upright and one upside down, are uploaded to that site with
`sitelens upload`, and each job's model and top labels are printed. The commands are the CLI's own, run as
subprocesses, so the demo shows what a user types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from batch_tasks.ocr.opencv import cv2
from sitelens.api_client import ApiClient, ApiError
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[1]
CLS_ONNX = REPO / "models" / "ocr" / "ppocrv4" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
SITE, DEVICE = "direction-yard", "cam-2"
MODEL = "text-direction:2.0"
LINES = {"upright.jpg": ("PUMP P-104", False, "0"), "upside-down.jpg": ("MAX 415 V", True, "180")}
DEADLINE_S = 300.0
POLL_S = 1.0
# PP-OCR's classifier reads a text line stretched to 48 x 192, BGR, scaled to [-1, 1]; its output is already
# probabilities (a Softmax then an Identity), said outright so the demo shows the flag.
INIT_FLAGS = ["--size", "48x192", "--channel-order", "BGR", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5",
              "--output-type", "probabilities", "--license", "Apache-2.0", "--attribution", "PaddleOCR"]  # fmt: skip


def run(stack: Stack, state: Path) -> list[str]:
    """Steps 8-10 on a running stack; the problems found (empty: it worked)."""
    assert stack.azurite is not None
    storage = ["--connection-string", stack.azurite.connection_string]
    folder = state / "models" / "text-direction"
    labels = state / "direction-labels.txt"
    labels.write_text("0\n180\n", encoding="utf-8")
    print(f"8. A second kind: PP-OCR's text-direction classifier as a classify model ({MODEL})")
    _cli("models", "init", "--kind", "classify", "--onnx", str(CLS_ONNX), "--labels", str(labels),
         "--name", "text-direction", "--version", "2.0", "--out", str(folder), *INIT_FLAGS, show=True)  # fmt: skip
    _cli("models", "publish", str(folder), *storage, show=True)
    _cli("models", "route", "--site", SITE, "--model", MODEL, *storage, show=True)
    # Ingestion re-reads routing.json within a minute; a host started now reads it at once.
    stack.restart_functions()
    photos = state / "direction-photos"
    photos.mkdir(exist_ok=True)
    for file, (text, upside_down, _) in LINES.items():
        (photos / file).write_bytes(text_line(text, upside_down))
    print(f"9. sitelens upload --site {SITE} --device {DEVICE} ({len(LINES)} text lines, one upside down)")
    uploaded = _upload([photos / f for f in LINES], state)
    print("10. What the classifier read:")
    return _report(ApiClient.of_stack(state), uploaded)


def text_line(text: str, upside_down: bool) -> bytes:
    """A dark text line on white, as a photo of a nameplate's one line would look once cropped."""
    image = np.full((64, 320, 3), 255, np.uint8)
    cv2.putText(image, text, (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (20, 20, 20), 3)
    ok, data = cv2.imencode(".jpg", cv2.rotate(image, cv2.ROTATE_180) if upside_down else image)
    assert ok
    return data.tobytes()


def _cli(*args: str, show: bool = False) -> str:
    if show:  # as a user would type it from the repository, the storage account's key left out
        shown = ["…" if before == "--connection-string" else a.replace(f"{REPO}/", "")
                 for before, a in zip(("", *args), args, strict=False)]  # fmt: skip
        print(f"   sitelens {' '.join(shown)}")
    env = {k: v for k, v in os.environ.items() if k not in ("SITELENS_API", "SITELENS_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "sitelens", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sitelens {args[0]} {args[1]} failed: {done.stdout}{done.stderr}")
    return done.stdout


def _upload(paths: list[Path], state: Path) -> dict[str, str]:
    """File name -> job id, from `sitelens upload --json`."""
    out = _cli("upload", *map(str, paths), "--site", SITE, "--device", DEVICE, "--json", "--state-dir", str(state))
    return {Path(o["path"]).name: o["job_id"] for o in json.loads(out) if o.get("job_id")}


def _report(api: ApiClient, uploaded: dict[str, str]) -> list[str]:
    problems = [f"{file}: not uploaded" for file in LINES if file not in uploaded]
    for file, job_id in uploaded.items():
        job = _terminal(api, job_id)
        summary = (job.get("result") or {}).get("summary") or {}
        labels = ", ".join(f"{x['label']} {x['score']:.2f}" for x in summary.get("labels") or [])
        print(f"   {file:<16} {job['state']:<10} {job.get('model') or '-':<20} {labels or job.get('reason')}")
        expected = LINES[file][2]
        top = (summary.get("labels") or [{}])[0].get("label")
        if job["state"] != "SUCCEEDED" or summary.get("kind") != "classify" or top != expected:
            problems.append(f"{file}: {job['state']} {summary.get('kind')} top {top!r}, expected classify {expected!r}")
    return problems


def _terminal(api: ApiClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            job = api.get(f"/jobs/{job_id}")
        except (ApiError, OSError):  # 404 until ingestion has seen the commit (docs/api.md), or no answer yet
            job = {"state": "waiting for the trigger"}
        if job["state"] in ("SUCCEEDED", "FAILED", "REJECTED") or time.monotonic() > deadline:
            return job
        time.sleep(POLL_S)  # the API's pace (Retry-After), not synchronisation

"""PP-OCRv4 as sitelens ships it: the pinned source wheel, the files taken from it, and the manifest.

The ONNX files come from the `rapidocr_onnxruntime` 1.4.4 wheel on PyPI (Apache-2.0), fetched with
`--no-deps` because its dependencies would replace onnxruntime-gpu and opencv-python-headless. Only the
three `.onnx` files are used; pre- and post-processing are sitelens' own.
"""

from __future__ import annotations

from typing import Any

WHEEL = "rapidocr_onnxruntime==1.4.4"
WHEEL_FILE = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
# role → (path inside the wheel, SHA-256, bytes), pinned: a changed upstream file fails the fetch.
FILES: dict[str, tuple[str, str, int]] = {
    "det": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", 4_745_517),
    "rec": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", 10_857_958),
    "cls": ("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", 585_532),
}  # fmt: skip


def manifest() -> dict[str, Any]:
    """The manifest written beside the files. Thresholds follow PaddleOCR's inference defaults."""
    return {
        "name": "ocr",
        "version": "ppocrv4",
        "task": "ocr",
        "files": {
            role: {"file": path.rsplit("/", 1)[1], "sha256": sha, "bytes": size}
            for role, (path, sha, size) in FILES.items()
        },
        "det": {
            "input": "x", "output": "sigmoid_0.tmp_0",
            # 1280, not 960: small text on 12 MP photos is lost at 960 (see docs/model.md)
            "long_side": 1280, "multiple": 32,
            "channel_order": "BGR", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "min_size": 3, "max_candidates": 1000,
        },
        "rec": {
            "input": "x", "output": "softmax_11.tmp_0", "height": 48, "width_buckets": [160, 320, 640, 1280],
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
            "dictionary": {"source": "onnx-metadata", "key": "character", "blank_index": 0, "space_last": True},
        },
        "cls": {
            "input": "x", "output": "save_infer_model/scale_0.tmp_1", "size": [48, 192], "labels": ["0", "180"],
            "threshold": 0.9,
        },
        "license": "Apache-2.0",
        "attribution": "PP-OCRv4 and PP-OCR mobile v2.0 models by PaddlePaddle/PaddleOCR (Apache-2.0), "
        "as packaged in the rapidocr_onnxruntime 1.4.4 wheel by RapidAI.",
        "source": {"package": WHEEL, "wheel": WHEEL_FILE},
    }  # fmt: skip

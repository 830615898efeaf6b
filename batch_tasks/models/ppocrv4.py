"""PP-OCRv4 as sitelens ships it: the pinned source wheel, the files taken from it, and the manifest.

The ONNX files come from the `rapidocr_onnxruntime` 1.4.4 wheel on PyPI (Apache-2.0), fetched with
`--no-deps` because its dependencies would replace onnxruntime-gpu and opencv-python-headless. Only the
three `.onnx` files are used; pre- and post-processing are sitelens' own.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "rapidocr_onnxruntime"
PACKAGE_VERSION = "1.4.4"
WHEEL = f"{PACKAGE}=={PACKAGE_VERSION}"
WHEEL_FILE = f"{PACKAGE}-{PACKAGE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"  # as PyPI lists it
# role → (path inside the wheel, SHA-256, bytes), pinned: a changed upstream file fails the fetch.
FILES: dict[str, tuple[str, str, int]] = {
    "det": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", 4_745_517),
    "rec": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", 10_857_958),
    "cls": ("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", 585_532),
}  # fmt: skip

LONG_SIDE = 1280
# (height, width): 4:3, 16:9 and 1:1 at the long side, both orientations (batch_tasks.ocr.det_pre.bucket_shapes)
DET_BUCKETS = [[960, 1280], [1280, 960], [736, 1280], [1280, 736], [1280, 1280]]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]


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
            # 1280, not PaddleOCR's 960: DB needs text ~6 px tall in its input, so 960 misses text under
            # ~32 px on 12 MP photos; 1280 finds ~18 px (docs/model.md)
            "long_side": LONG_SIDE, "buckets": DET_BUCKETS, "max_upscale": 2.0, "batch_sizes": [1, 2, 4, 8],
            # decode JPEGs reduced only as far as 1.5x the det long side, so rec crops stay sharper than det input
            "decode_oversample": 1.5,
            "channel_order": "BGR", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "min_size": 3, "max_candidates": 1000,
            "dilate": False, "score_mode": "fast",
        },
        "rec": {
            "input": "x", "output": "softmax_11.tmp_0",
            "height": 48, "width_buckets": [160, 320, 480, 640, 960, 1280], "batch_sizes": [1, 2, 4, 8, 16, 32],
            "channel_order": "BGR", "mean": HALF, "std": HALF, "min_confidence": 0.5,
            # restores the word spaces this Chinese-trained model drops in Latin text (batch_tasks/ocr/ctc.py)
            "space_threshold": 0.02,
            "dictionary": {
                "source": "onnx-metadata", "key": "character", "blank_index": 0, "space": "last",
                "origin": "PaddleOCR ppocr_keys_v1.txt (6,623 symbols), embedded in the rec model",
            },
            "decoding": "ctc-greedy",
        },
        "cls": {
            "input": "x", "output": "save_infer_model/scale_0.tmp_1",
            "height": 48, "width": 192, "batch_sizes": [1, 2, 4, 8, 16, 32],
            "channel_order": "BGR", "mean": HALF, "std": HALF, "labels": ["0", "180"], "threshold": 0.9,
        },
        "license": "Apache-2.0",
        "attribution": "PP-OCRv4 det/rec and PP-OCR mobile v2.0 cls models by PaddlePaddle/PaddleOCR "
        "(https://github.com/PaddlePaddle/PaddleOCR, Apache-2.0), as packaged in the rapidocr_onnxruntime "
        "1.4.4 wheel by RapidAI (https://github.com/RapidAI/RapidOCR, Apache-2.0).",
        "source": {
            "package": WHEEL, "wheel": WHEEL_FILE, "wheel_sha256": WHEEL_SHA256,
            "index": "https://pypi.org/project/rapidocr-onnxruntime/1.4.4/",
        },
    }  # fmt: skip

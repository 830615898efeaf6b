"""The OCR settings a model folder's manifest declares, read into typed values and checked.

The manifest's `det`, `rec` and optional `cls` sections name each model's input and output tensors, input
sizes (det size buckets, rec width buckets), normalisation, batch sizes and thresholds. Anything wrong is a
`SettingsError` that names the key, raised when the engine loads rather than on the first photo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from batch_tasks.models.manifest import Manifest, ManifestError

Bucket = tuple[int, int]  # (height, width)
Triple = tuple[float, float, float]


class SettingsError(ManifestError):
    """The manifest's OCR settings are missing or out of range; the message names the key."""


@dataclass(frozen=True)
class DbParams:
    """DB post-processing: binarise at `thresh`, keep boxes scoring `box_thresh`, grow them by `unclip_ratio`."""

    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    min_size: float = 3.0
    max_candidates: int = 1000
    dilate: bool = False


@dataclass(frozen=True)
class DetSettings:
    input: str
    output: str
    long_side: int
    buckets: tuple[Bucket, ...]
    max_upscale: float
    batch_sizes: tuple[int, ...]
    mean: Triple
    std: Triple
    db: DbParams
    decode_oversample: float  # decode at least this many times the det long side, for sharper rec crops

    @property
    def decode_long_side(self) -> int:
        return math.ceil(self.long_side * self.decode_oversample)


@dataclass(frozen=True)
class RecSettings:
    input: str
    output: str
    height: int
    width_buckets: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    mean: Triple
    std: Triple
    min_confidence: float
    dictionary_key: str
    space_threshold: float | None = None  # restore word spaces in Latin text (`ctc.greedy`); None: off


@dataclass(frozen=True)
class ClsSettings:
    input: str
    output: str
    height: int
    width: int
    batch_sizes: tuple[int, ...]
    mean: Triple
    std: Triple
    threshold: float
    flip_label: int  # the index of label "180" in the classifier's output


@dataclass(frozen=True)
class OcrSettings:
    det: DetSettings
    rec: RecSettings
    cls: ClsSettings | None


def rescale_buckets(buckets: tuple[Bucket, ...], old: int, new: int, multiple: int = 32) -> tuple[Bucket, ...]:
    """The same aspect buckets for another long side, each side rounded up to `multiple`."""

    def side(n: int) -> int:
        return new if n == old else max(multiple, math.ceil(n * new / old / multiple) * multiple)

    return tuple(dict.fromkeys((side(h), side(w)) for h, w in buckets))


def from_manifest(manifest: Manifest, *, long_side: int | None = None) -> OcrSettings:
    """Typed OCR settings; `long_side` overrides the manifest's det long side (buckets are rescaled to it).

    Raises:
        SettingsError: the task is not `ocr`, a section or key is missing, or a value is out of range.
    """
    if manifest.task != "ocr":
        raise SettingsError(f"model {manifest.name}/{manifest.version} is a '{manifest.task}' model, not 'ocr'")
    det = _det(_section(manifest.raw, "det"))
    if long_side is not None and long_side != det.long_side:
        _check(long_side > 0 and long_side % 32 == 0, "det.long_side", "a positive multiple of 32")
        det = replace(det, long_side=long_side, buckets=rescale_buckets(det.buckets, det.long_side, long_side))
    rec = _rec(_section(manifest.raw, "rec"))
    has_cls = any(f.role == "cls" for f in manifest.files)
    cls = _cls(_section(manifest.raw, "cls")) if has_cls else None
    return OcrSettings(det, rec, cls)


def _det(doc: Mapping[str, Any]) -> DetSettings:
    long_side = _int(doc, "det.long_side", 32, 8192)
    _check(long_side % 32 == 0, "det.long_side", "a multiple of 32")
    buckets: list[Bucket] = []
    for entry in _list(doc, "det.buckets"):
        _check(isinstance(entry, list) and len(entry) == 2, "det.buckets", "a list of [height, width] pairs")
        h, w = (_as_int(v, "det.buckets", 32, long_side) for v in entry)
        _check(h % 32 == 0 and w % 32 == 0, "det.buckets", "multiples of 32")
        _check(max(h, w) == long_side, "det.buckets", f"buckets whose long side is det.long_side ({long_side})")
        buckets.append((h, w))
    db = DbParams(
        thresh=_float(doc, "det.thresh", 0.0, 1.0),
        box_thresh=_float(doc, "det.box_thresh", 0.0, 1.0),
        unclip_ratio=_float(doc, "det.unclip_ratio", 0.0, 10.0),
        min_size=_float(doc, "det.min_size", 0.0, 100.0),
        max_candidates=_int(doc, "det.max_candidates", 1, 100_000),
        dilate=bool(doc.get("dilate", False)),
    )
    _check(db.unclip_ratio > 0, "det.unclip_ratio", "positive")
    return DetSettings(
        input=_str(doc, "det.input"),
        output=_str(doc, "det.output"),
        long_side=long_side,
        buckets=tuple(dict.fromkeys(buckets)),
        max_upscale=_float(doc, "det.max_upscale", 1.0, 8.0),
        batch_sizes=_sizes(doc, "det.batch_sizes"),
        mean=_triple(doc, "det.mean"),
        std=_triple(doc, "det.std", positive=True),
        db=db,
        decode_oversample=_float(doc, "det.decode_oversample", 1.0, 100.0),
    )


def _rec(doc: Mapping[str, Any]) -> RecSettings:
    widths = tuple(_as_int(v, "rec.width_buckets", 8, 8192) for v in _list(doc, "rec.width_buckets"))
    _check(all(w % 8 == 0 for w in widths), "rec.width_buckets", "multiples of 8 (the model's time step)")
    _check(list(widths) == sorted(set(widths)), "rec.width_buckets", "strictly ascending")
    dictionary = _section(doc, "rec.dictionary")
    _check(dictionary.get("source") == "onnx-metadata", "rec.dictionary.source", "'onnx-metadata'")
    return RecSettings(
        input=_str(doc, "rec.input"),
        output=_str(doc, "rec.output"),
        height=_int(doc, "rec.height", 8, 256),
        width_buckets=widths,
        batch_sizes=_sizes(doc, "rec.batch_sizes"),
        mean=_triple(doc, "rec.mean"),
        std=_triple(doc, "rec.std", positive=True),
        min_confidence=_float(doc, "rec.min_confidence", 0.0, 1.0),
        dictionary_key=_str(dictionary, "rec.dictionary.key"),
        space_threshold=_float(doc, "rec.space_threshold", 0.0, 1.0) if "space_threshold" in doc else None,
    )


def _cls(doc: Mapping[str, Any]) -> ClsSettings:
    labels = [str(v) for v in _list(doc, "cls.labels")]
    _check("180" in labels, "cls.labels", "a list containing '180'")
    return ClsSettings(
        input=_str(doc, "cls.input"),
        output=_str(doc, "cls.output"),
        height=_int(doc, "cls.height", 8, 256),
        width=_int(doc, "cls.width", 8, 2048),
        batch_sizes=_sizes(doc, "cls.batch_sizes"),
        mean=_triple(doc, "cls.mean"),
        std=_triple(doc, "cls.std", positive=True),
        threshold=_float(doc, "cls.threshold", 0.0, 1.0),
        flip_label=labels.index("180"),
    )


def _check(ok: bool, key: str, expected: str) -> None:
    if not ok:
        raise SettingsError(f"manifest key {key} must be {expected}")


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key.rsplit(".", 1)[-1])
    if not isinstance(value, Mapping):
        raise SettingsError(f"manifest key {key} must be an object")
    return value


def _get(doc: Mapping[str, Any], key: str) -> Any:
    leaf = key.rsplit(".", 1)[-1]
    if leaf not in doc:
        raise SettingsError(f"manifest key {key} is missing")
    return doc[leaf]


def _str(doc: Mapping[str, Any], key: str) -> str:
    value = _get(doc, key)
    _check(isinstance(value, str) and bool(value), key, "a non-empty string")
    return str(value)


def _as_int(value: Any, key: str, lo: int, hi: int) -> int:
    _check(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi, key, f"integers in {lo}…{hi}")
    return int(value)


def _int(doc: Mapping[str, Any], key: str, lo: int, hi: int) -> int:
    return _as_int(_get(doc, key), key, lo, hi)


def _float(doc: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    value = _get(doc, key)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
    _check(ok, key, f"a number in {lo}…{hi}")
    return float(value)


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = _get(doc, key)
    _check(isinstance(value, list) and bool(value), key, "a non-empty list")
    return list(value)


def _sizes(doc: Mapping[str, Any], key: str) -> tuple[int, ...]:
    sizes = tuple(_as_int(v, key, 1, 1024) for v in _list(doc, key))
    _check(list(sizes) == sorted(set(sizes)), key, "strictly ascending")
    return sizes


def _triple(doc: Mapping[str, Any], key: str, *, positive: bool = False) -> Triple:
    values = _list(doc, key)
    ok = len(values) == 3 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    _check(ok and (not positive or min(values) > 0), key, "three positive numbers" if positive else "three numbers")
    return float(values[0]), float(values[1]), float(values[2])

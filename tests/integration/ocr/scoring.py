"""Score OCR results against the field photos' ground truth: lines matched by polygon overlap, then text.

A drawn line and a read line match when the read polygon covers most of the drawn ink and the ink fills a fair
share of the read polygon (DB boxes are unclipped, so they are larger than the ink); pairs are taken best
overlap first, each line used once. The character error rate is the edit distance summed over the set
(a missed line counts all its characters, a read line that matches nothing counts all of its own) over the
number of drawn characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.result import OcrResult
from sitelens.field_photos import FieldPhoto

MIN_INK_COVERED = 0.6  # of the drawn ink's polygon, inside the read one
MIN_READ_FILLED = 0.25  # of the read polygon, filled by the drawn one


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing one."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _area(polygon: np.ndarray) -> float:
    return abs(float(cv2.contourArea(polygon)))


def _shared(a: np.ndarray, b: np.ndarray) -> float:
    area, _ = cv2.intersectConvexConvex(cv2.convexHull(a), cv2.convexHull(b))
    return float(area)


@dataclass
class Score:
    chars: int = 0  # drawn characters, canonical
    errors: int = 0  # edit operations, canonical
    raw_chars: int = 0  # as drawn and read, spaces and all
    raw_errors: int = 0
    lines: int = 0
    missed: list[tuple[str, str]] = field(default_factory=list)  # (photo, drawn text)
    extra: list[tuple[str, str]] = field(default_factory=list)  # (photo, read text) matching no drawn line
    misread: list[tuple[str, str, str]] = field(default_factory=list)  # (photo, drawn, read) after canon
    coverage: list[float] = field(default_factory=list)  # of each matched line's ink by its read polygon

    @property
    def cer(self) -> float:
        return self.errors / self.chars

    @property
    def raw_cer(self) -> float:
        return self.raw_errors / self.raw_chars

    def summary(self) -> str:
        return (
            f"CER {self.cer:.2%} ({self.errors}/{self.chars} chars; {self.raw_cer:.2%} before canonicalising), "
            f"{self.lines - len(self.missed)}/{self.lines} lines found, missed {self.missed}, extra {self.extra}, "
            f"misread {self.misread}"
        )


def score(photos: Sequence[FieldPhoto], results: Sequence[OcrResult], canon: Callable[[str], str]) -> Score:
    total = Score()
    for photo, result in zip(photos, results, strict=True):
        drawn = [np.array(line.polygon, np.float32) for line in photo.lines]
        read = [np.array(line.polygon, np.float32) for line in result.lines]
        pairs = []
        for i, ink in enumerate(drawn):
            for j, box in enumerate(read):
                shared = _shared(ink, box)
                if shared >= MIN_INK_COVERED * _area(ink) and shared >= MIN_READ_FILLED * _area(box):
                    pairs.append((shared / (_area(ink) + _area(box) - shared), shared / _area(ink), i, j))
        matched: dict[int, int] = {}
        for _, covered, i, j in sorted(pairs, reverse=True):
            if i not in matched and j not in matched.values():
                matched[i] = j
                total.coverage.append(covered)
        for i, line in enumerate(photo.lines):
            text = result.lines[matched[i]].text if i in matched else ""
            if i not in matched:
                total.missed.append((photo.name, line.text))
            elif canon(text) != canon(line.text):
                total.misread.append((photo.name, line.text, text))
            total.lines += 1
            total.chars += len(canon(line.text))
            total.errors += edit_distance(canon(line.text), canon(text))
            total.raw_chars += len(line.text)
            total.raw_errors += edit_distance(line.text, text)
        for j, found in enumerate(result.lines):
            if j not in matched.values():
                total.extra.append((photo.name, found.text))
                total.errors += len(canon(found.text))
                total.raw_errors += len(found.text)
    return total

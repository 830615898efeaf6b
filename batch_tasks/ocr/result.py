"""What reading one photo produces: its text lines (text, confidence, polygon) and an overlay JPEG."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

Polygon = tuple[tuple[float, float], ...]


class LineDict(TypedDict):
    text: str
    confidence: float
    box_score: float
    polygon: list[list[float]]


class ResultDict(TypedDict):
    width: int
    height: int
    lines: list[LineDict]


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float  # mean CTC probability of the kept characters, 0…1
    box_score: float  # mean detection probability inside the box, 0…1
    polygon: Polygon  # 4 corners, clockwise from top-left, in the original upright image's pixels

    def to_dict(self) -> LineDict:
        return {
            "text": self.text,
            "confidence": self.confidence,
            "box_score": self.box_score,
            "polygon": [[x, y] for x, y in self.polygon],
        }


@dataclass(frozen=True)
class OcrResult:
    width: int  # the original upright image's size, the polygons' frame
    height: int
    lines: tuple[Line, ...]  # in reading order
    overlay_jpeg: bytes | None = None  # the photo with the boxes drawn (possibly downscaled), for people

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> ResultDict:
        """The JSON-ready part (everything but the overlay)."""
        return {"width": self.width, "height": self.height, "lines": [line.to_dict() for line in self.lines]}

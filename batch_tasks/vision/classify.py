"""A `classify` model: a photo to its top-k labels with probabilities, as its manifest's `output` says.

The output is one row of C scores per image (C = the number of labels; trailing axes of size 1, as a
1x1 pooled head leaves them, are allowed). `logits` are turned into probabilities with a softmax;
`probabilities` are taken as they are and must lie in 0..1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from batch_tasks.errors import ModelOutputInvalid
from batch_tasks.vision.results import ClassifyResult, Label
from batch_tasks.vision.runner import Prepared, VisionModel


def probabilities(row: npt.NDArray[np.floating], kind: str, classes: int) -> npt.NDArray[np.float64]:
    """One image's scores as probabilities.

    Raises:
        ModelOutputInvalid: not C finite numbers, or probabilities outside 0..1.
    """
    scores = np.asarray(row, np.float64)
    if scores.size != classes:
        raise ModelOutputInvalid(f"classify output has {scores.size} scores per image, the manifest {classes} labels")
    scores = scores.reshape(-1)
    if not np.all(np.isfinite(scores)):
        raise ModelOutputInvalid("classify output holds NaN or infinite scores")
    if kind == "logits":
        exp = np.exp(scores - scores.max())
        return np.asarray(exp / exp.sum(), np.float64)
    if scores.min() < 0 or scores.max() > 1 + 1e-4:
        raise ModelOutputInvalid("classify output of type 'probabilities' holds values outside 0..1")
    return np.clip(scores, 0.0, 1.0)


def top(probs: npt.NDArray[np.float64], labels: tuple[str, ...], k: int) -> tuple[Label, ...]:
    order = np.argsort(-probs, kind="stable")[:k]  # ties keep the labels' order
    return tuple(Label(labels[i], round(float(probs[i]), 4)) for i in order)


class ClassifyModel(VisionModel[ClassifyResult]):
    def read(self, prepared: Prepared) -> ClassifyResult:
        out, labels = self.runner.spec.output, self.runner.labels
        probs = probabilities(prepared.output, out.type, len(labels))
        return ClassifyResult(prepared.image.width, prepared.image.height, top(probs, labels, out.top_k))

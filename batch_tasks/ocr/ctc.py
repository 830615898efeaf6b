"""Greedy CTC decoding with the dictionary the rec model carries in its own metadata.

PP-OCR rec models store their character list in the ONNX metadata (`character`, one symbol per line). The
output classes are: 0 = the CTC blank, 1…n = the listed symbols in order, n + 1 = a space (PaddleOCR's
`use_space_char`). Decoding takes the best class per time step, collapses repeats, drops blanks, and scores a
line by the mean probability of the steps it kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

BLANK = 0


class DictionaryError(ValueError):
    """The rec model's metadata has no usable dictionary, or it does not match the model's output."""


def dictionary(metadata: Mapping[str, str], key: str = "character", classes: int | None = None) -> tuple[str, ...]:
    """Class index → text: "" for the blank, the metadata's symbols, then a space.

    Raises:
        DictionaryError: the key is missing or empty, or `classes` (the model's output width) disagrees.
    """
    text = metadata.get(key)
    if not text:
        raise DictionaryError(f"the rec model's metadata has no '{key}' entry")
    symbols = tuple(text.splitlines())
    table = ("", *symbols, " ")
    if classes is not None and classes != len(table):
        raise DictionaryError(f"the dictionary gives {len(table)} classes, the model outputs {classes}")
    return table


def greedy(probs: npt.NDArray[np.float32], table: Sequence[str]) -> list[tuple[str, float]]:
    """Decode [N, T, classes] softmax outputs to (text, confidence) per line; confidence 0 for no text."""
    best = probs.argmax(axis=2)  # [N, T]
    scores = np.take_along_axis(probs, best[..., None], axis=2)[..., 0]
    # keep a step when it is not blank and differs from the step before it
    repeated = np.zeros_like(best, dtype=bool)
    repeated[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = (best != BLANK) & ~repeated
    results: list[tuple[str, float]] = []
    for indices, step_scores, kept in zip(best, scores, keep, strict=True):
        chosen = indices[kept].tolist()
        text = "".join(table[i] for i in chosen)
        results.append((text, float(step_scores[kept].mean()) if chosen else 0.0))
    return results

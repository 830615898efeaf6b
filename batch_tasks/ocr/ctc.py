"""Greedy CTC decoding with the dictionary the rec model carries in its own metadata.

PP-OCR rec models store their character list in the ONNX metadata (`character`, one symbol per line). The
output classes are: 0 = the CTC blank, 1…n = the listed symbols in order, n + 1 = a space (PaddleOCR's
`use_space_char`). Decoding takes the best class per time step, collapses repeats, drops blanks, and scores a
line by the mean probability of the steps it kept.

Word spaces: the model was trained mostly on Chinese text lines, which have none, so in Latin text the space
class rarely wins a step and most word gaps decode to nothing ("MAX415V50HZ"). It still gives the space class
clearly more weight inside a word gap than between the letters of a word, so with a `space_threshold` a space
is put between two Latin characters wherever a step between them gives the space class more than that
(on the generated field photos of tests/integration/ocr, 61 % of the 338 word spaces decode to nothing
without it; with 0.02 none is lost or added).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

BLANK = 0
_JOINERS = frozenset("-/")  # no space is restored next to these


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


def greedy(
    probs: npt.NDArray[np.float32], table: Sequence[str], space_threshold: float | None = None
) -> list[tuple[str, float]]:
    """Decode [N, T, classes] softmax outputs to (text, confidence) per line; confidence 0 for no text.

    `space_threshold`: restore word spaces between Latin characters (see the module's note); None: off.
    """
    best = probs.argmax(axis=2)  # [N, T]
    scores = np.take_along_axis(probs, best[..., None], axis=2)[..., 0]
    # keep a step when it is not blank and differs from the step before it
    repeated = np.zeros_like(best, dtype=bool)
    repeated[:, 1:] = best[:, 1:] == best[:, :-1]
    keep = (best != BLANK) & ~repeated
    results: list[tuple[str, float]] = []
    for line, (indices, step_scores, kept) in enumerate(zip(best, scores, keep, strict=True)):
        steps = np.flatnonzero(kept)
        symbols = [table[i] for i in indices[steps].tolist()]
        if space_threshold is not None and table[-1] == " ":
            symbols = _with_spaces(symbols, steps, probs[line, :, len(table) - 1], space_threshold)
        text = "".join(symbols)
        results.append((text, float(step_scores[kept].mean()) if steps.size else 0.0))
    return results


def _with_spaces(
    symbols: list[str], steps: npt.NDArray[np.intp], space: npt.NDArray[np.float32], threshold: float
) -> list[str]:
    """`symbols` (decoded at `steps`) with a space wherever a step between two Latin ones gave `space` more
    than `threshold`. Only Latin: Chinese text has no spaces, and the model's gaps there mean nothing. Never
    beside a hyphen or slash: they join the parts of identifiers ("1111-7711", "S/N"), and the narrow glyph
    leaves a gap the space class weighs in just as in a word gap."""
    out: list[str] = []
    for k, symbol in enumerate(symbols):
        before = out[-1] if out else " "
        latin_pair = before != " " and symbol != " " and before.isascii() and symbol.isascii()
        joined = before in _JOINERS or symbol in _JOINERS
        if latin_pair and not joined and float(space[steps[k - 1] + 1 : steps[k]].max(initial=0.0)) > threshold:
            out.append(" ")
        out.append(symbol)
    return out

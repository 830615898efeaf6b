"""Greedy CTC decoding and the dictionary from the rec model's metadata."""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.ocr import ctc

TABLE = ctc.dictionary({"character": "a\nb"})  # ("", "a", "b", " ")


def steps(indices, p=0.9) -> np.ndarray:
    """[T, 4] probabilities with `p` on each step's class."""
    probs = np.full((len(indices), len(TABLE)), (1 - p) / (len(TABLE) - 1), np.float32)
    probs[np.arange(len(indices)), indices] = p
    return probs


def test_the_table_is_blank_then_the_symbols_then_a_space():
    assert TABLE == ("", "a", "b", " ")
    assert len(ctc.dictionary({"character": "x\ny\nz"}, classes=5)) == 5


def test_repeats_collapse_and_blanks_separate_real_doubles():
    [(text, conf)] = ctc.greedy(steps([1, 1, 0, 1, 2, 2, 3, 0, 0])[None], TABLE)
    assert text == "aab "
    assert conf == pytest.approx(0.9)


def test_confidence_is_the_mean_of_the_kept_steps():
    probs = steps([1, 2])
    probs[1] = [0.1, 0.0, 0.6, 0.3]
    [(text, conf)] = ctc.greedy(probs[None], TABLE)
    assert text == "ab" and conf == pytest.approx((0.9 + 0.6) / 2)


def test_all_blank_is_empty_with_zero_confidence_and_batches_decode_per_line():
    batch = np.stack([steps([0, 0, 0]), steps([2, 0, 2])])
    (empty, none), (text, conf) = ctc.greedy(batch, TABLE)
    assert (empty, none) == ("", 0.0)
    assert text == "bb" and conf == pytest.approx(0.9)


def test_missing_or_mismatched_dictionaries_are_refused():
    with pytest.raises(ctc.DictionaryError, match="no 'character'"):
        ctc.dictionary({})
    with pytest.raises(ctc.DictionaryError, match="4 classes, the model outputs 6625"):
        ctc.dictionary({"character": "a\nb"}, classes=6625)

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


def weighted(indices, space) -> np.ndarray:
    """[T, 4] probabilities: 0.9 on each step's class, `space[t]` on the space class, the rest spread evenly."""
    probs = np.zeros((len(indices), len(TABLE)), np.float32)
    for t, (index, p_space) in enumerate(zip(indices, space, strict=True)):
        probs[t] = (1 - 0.9 - (0 if index == 3 else p_space)) / 2
        probs[t, 3] = p_space
        probs[t, index] = 0.9
    return probs


def test_a_word_gap_the_space_class_weighs_in_becomes_a_space():
    gap = weighted([1, 0, 0, 2, 0, 2], [0.0, 0.04, 0.01, 0.0, 0.01, 0.0])  # "a", gap, "b", close, "b"
    assert ctc.greedy(gap[None], TABLE)[0][0] == "abb"  # off: as decoded
    [(text, conf)] = ctc.greedy(gap[None], TABLE, space_threshold=0.02)
    assert text == "a bb" and conf == pytest.approx(0.9)  # the restored space is not a scored step
    assert ctc.greedy(gap[None], TABLE, space_threshold=0.05)[0][0] == "abb"


def test_decoded_spaces_are_not_doubled_and_edges_get_none():
    spaced = weighted([0, 1, 0, 3, 0, 2, 0], [0.3, 0.0, 0.3, 0.9, 0.3, 0.0, 0.3])
    assert ctc.greedy(spaced[None], TABLE, space_threshold=0.02)[0][0] == "a b"


def test_spaces_are_restored_only_between_latin_characters():
    table = ctc.dictionary({"character": "水\nb"})  # ("", "水", "b", " ")
    gap = weighted([1, 0, 1, 0, 2], [0.0, 0.2, 0.0, 0.2, 0.0])
    assert ctc.greedy(gap[None], table, space_threshold=0.02)[0][0] == "水水b"


def test_no_space_is_restored_beside_a_hyphen_or_slash():
    table = ctc.dictionary({"character": "1\n7\n-\n/"})  # ("", "1", "7", "-", "/", " ")

    def gaps(indices: list[int], space_in_gaps: float) -> np.ndarray:
        probs = np.full((len(indices), len(table)), 0.02, np.float32)
        for t, index in enumerate(indices):
            probs[t, index] = 0.9
            probs[t, 5] = space_in_gaps if index == 0 else 0.0
        return probs

    # "1 - 7 / 1": every gap weighs the space class like a word gap does
    joined = gaps([1, 0, 3, 0, 2, 0, 4, 0, 1], 0.05)
    assert ctc.greedy(joined[None], table, space_threshold=0.02)[0][0] == "1-7/1"
    assert ctc.greedy(gaps([1, 0, 2, 0, 1], 0.05)[None], table, space_threshold=0.02)[0][0] == "1 7 1"  # words


def test_missing_or_mismatched_dictionaries_are_refused():
    with pytest.raises(ctc.DictionaryError, match="no 'character'"):
        ctc.dictionary({})
    with pytest.raises(ctc.DictionaryError, match="4 classes, the model outputs 6625"):
        ctc.dictionary({"character": "a\nb"}, classes=6625)

"""The part-bits study's pieces on a real chorale (BWV 66.6, the golden one) and the
shipped part models: the grammar it scores under refuses none of Bach's tokens, and the
mixtures it tries are distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings.polyphony import PolyphonyEncoding
from engine.formats import midi_file_to_song
from engine.generation.memory import memory_distributions, softmax
from training.corpus import encode_part_song
from training.studies import part_bits as P

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chorale():
    enc = PolyphonyEncoding()
    song = midi_file_to_song(ROOT / "tests" / "engine" / "data" / "golden_chorale.mid")
    tokens, _ = encode_part_song(song, enc)
    return enc, np.asarray(tokens, dtype=np.int64)


def test_the_grammar_allows_every_token_of_a_chorale(chorale):
    enc, tokens = chorale
    assert P.parts_of(tokens) == 4
    for parts in (None, 4):
        masks, refused = P.grammar_masks(tokens, enc, parts)
        assert refused == 0
        assert masks[np.arange(len(tokens) - 1), tokens[1:]].all()
    four, _ = P.grammar_masks(tokens, enc, 4)
    eight, _ = P.grammar_masks(tokens, enc)
    assert (four <= eight).all() and four.sum() < eight.sum()
    # after a step's fourth note only STEP may come
    ends = np.nonzero(tokens == 0)[0]
    full = [e for a, e in zip(np.concatenate([[-1], ends]), ends) if e - a - 1 == 4]
    assert full and all(four[i - 1, 1:].sum() == 0 for i in full)  # row i - 1: before token i


def test_the_mixtures_are_distributions_and_the_grammar_lowers_the_bits(chorale):
    enc, tokens = chorale
    inputs = P._inputs([tokens], enc)
    nets, masks = inputs[0], inputs[1]
    a, b = nets["poly-lstm"][0], nets["poly-wavenet"][0]
    np.testing.assert_allclose(P.log_linear(a, b, 0.0), b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(P.log_linear(a, b, 0.4, 1.1).sum(axis=1), 1.0)
    np.testing.assert_allclose(P.renormalised(b, masks[0]).sum(axis=1), 1.0)
    choices = P.choose([tokens], enc, *inputs[:3])
    report = P.ladder([tokens], enc, inputs, choices)["bits_per_note"]
    assert report["poly-wavenet, grammar of the piece's parts"] < report["poly-wavenet alone"]
    assert 0.0 <= choices["duet"]["weight"] <= 1.0
    np.testing.assert_allclose(softmax(np.log(b)), b, rtol=1e-9, atol=1e-12)


def test_a_memory_keyed_by_one_key_is_the_plain_memory_and_keys_are_places(chorale):
    enc, tokens = chorale
    one = np.zeros(len(tokens) + 1, dtype=np.int64)
    keyed, longest = P.keyed_memory_distributions(tokens, enc.vocab_size, 16, one)
    plain, plain_longest = memory_distributions(tokens.tolist(), enc.vocab_size, 16, 1)
    assert np.array_equal(keyed, plain[1:]) and np.array_equal(longest, plain_longest[1:])
    keys = P.memory_keys(np.array([5, 3, 0, 7, 0]), enc)
    assert keys["beat"].tolist() == [0, 0, 0, 1, 1, 2]
    assert keys["beat and slot"].tolist() == [0, 1, 2, 9, 10, 18]
    by_beat, _ = P.keyed_memory_distributions(tokens, enc.vocab_size, 16,
                                              P.memory_keys(tokens, enc)["beat"])
    np.testing.assert_allclose(by_beat.sum(axis=1), 1.0)

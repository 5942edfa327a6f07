"""The Kneser-Ney baseline gives proper distributions and learns what it saw."""

from __future__ import annotations

import numpy as np

from engine.models.ngram import KneserNey


def test_distributions_sum_to_one_and_learn_a_pattern():
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 38, 60) for _ in range(20)]
    pattern = np.array([20, 0, 1, 22, 0, 1] * 8)
    kn3 = KneserNey(38, 3).fit(noise + [pattern] * 10)
    kn1 = KneserNey(38, 1).fit(noise + [pattern] * 10)
    p3, p1 = kn3.distributions(pattern), kn1.distributions(pattern)
    assert np.allclose(p3.sum(axis=1), 1.0) and (p3 > 0).all()
    assert np.allclose(p1.sum(axis=1), 1.0)
    # after (20, 0) the trigram model knows a NOTE_OFF comes; the unigram cannot
    assert p3[2].argmax() == 1 and p3[2, 1] > 0.8
    assert p3[2, 1] > p1[2, 1]
    # a token never seen still has some probability
    assert KneserNey(38, 2).fit([pattern]).distributions(np.array([37, 36]))[1, 36] > 0

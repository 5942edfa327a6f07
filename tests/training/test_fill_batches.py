"""training/fill.py's batches: where a training gap may start, and that a fill example
always keeps its whole gap within max_len."""

from __future__ import annotations

import numpy as np

from engine.encodings.fim import FillMelodyEncoding
from training.fill import fill_batches


def _tunes(n: int = 120, length: int = 300) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    tunes = []
    for _ in range(n):
        t = rng.integers(0, 38, size=length)  # melody tokens (no sentinels)
        tunes.append(t)
    return tunes


def _examples(batches, enc: FillMelodyEncoding):
    """(prefix length, gap tokens weighed, the gap's quarters as FILL_MIDDLE says) of
    each fill example."""
    out = []
    for x, y, w in batches:
        for row in range(len(x)):
            middle = np.where(x[row] >= enc.suffix_token + 1)[0]
            if len(middle) == 0:
                continue
            first = int(np.where(w[row] > 0)[0][0]) + 1  # the middle's first token
            out.append((first - 1 - int(middle[0]), int((w[row] > 0).sum()),
                        int(x[row, middle[0]]) - enc.suffix_token))
    return out


def test_a_long_prefix_is_read_only_when_gaps_may_start_anywhere():
    enc = FillMelodyEncoding(suffix_steps=64, prefix_steps=128)
    tunes = _tunes()
    bounded = _examples(fill_batches(tunes, enc, 16, 256, np.random.default_rng(0),
                                     1.0, 0.0), enc)
    # a max-len the longest examples (2 + 64 + 128 + 64 tokens) do not fit: they stay plain
    anywhere = _examples(fill_batches(tunes, enc, 16, 224, np.random.default_rng(0),
                                      1.0, 0.0, anywhere=True), enc)
    # random_gap's bound counts the prefix and suffix at full length: starts stay early
    assert max(p for p, _, _ in bounded) < 64
    prefixes = np.array([p for p, _, _ in anywhere])
    assert (prefixes == 128).mean() > 0.5 and len(anywhere) >= 0.7 * len(tunes)
    for _, weighed, quarters in anywhere:
        # the whole gap is weighed, never cut short by max_len: as many steps as its
        # FILL_MIDDLE(quarters) says, to the quarter
        assert 4 * (quarters - 1) < weighed <= 4 * quarters
    assert all(len(x[0]) <= 224 for x, _, _ in fill_batches(
        tunes, enc, 16, 224, np.random.default_rng(0), 1.0, 0.0, anywhere=True))

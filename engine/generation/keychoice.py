"""The auto key lock's key: the transposition under which the model itself finds the
seed likeliest.

Two bars are too few notes for a key profile (Krumhansl-Schmuckler on the first two
bars of the Essen test tunes locks a scale that leaves out 6.3% of the next four bars'
notes).  The model knows better what a tune in C major / A minor sounds like: the seed
is moved by each of the 12 shifts, the model scores all 12 in one call of its sequence
graph, and :func:`engine.encodings.keys.key_from_likelihoods` turns the 12 likelihoods
(with how tunes start) into the likeliest key and the notes a lock may allow, keeping a
note that another likely key needs, so that an unsure estimate locks less or nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings import Encoding, Key
from engine.encodings.keys import KeyEstimate, key_from_likelihoods
from engine.errors import EncodingError
from engine.song import Note

# the seed's last steps the model scores (16 bars of 4/4): enough for any key, and the
# call stays a few milliseconds
KEY_WINDOW_STEPS = 256


def shift_log_likelihoods(model, enc: Encoding, notes: Sequence[Note], ppq: int,
                          start_step: int, end_step: int) -> np.ndarray | None:
    """The model's log-likelihood (nats) of the seed's tokens moved by each shift 0..11
    (every token after the first); None when the seed has fewer than two tokens."""
    rows = []
    for s in range(12):
        try:
            encoded = enc.encode_seed(notes, ppq, key=Key((-s) % 12), start_step=start_step,
                                      end_step=end_step)
        except EncodingError:
            return None
        rows.append(enc.trim_prime(encoded.tokens))
    length = min(len(r) for r in rows)
    if length < 2 or any(len(r) != length for r in rows):
        return None
    tokens = np.array(rows, dtype=np.int32)
    logits = model.sequence_logits(tokens[:, :-1]).astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_p = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    targets = tokens[:, 1:]
    return np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0].sum(axis=1)


def choose_key(model, notes: Sequence[Note], ppq: int, start_step: int,
               end_step: int) -> KeyEstimate:
    """The auto key of a seed (its ``notes`` in the steps [start_step, end_step))."""
    enc: Encoding = model.encoding
    first = min(enc.tick_to_step(n.start_tick, ppq) for n in notes)
    window_start = max(start_step, end_step - KEY_WINDOW_STEPS)
    cut = enc.step_to_tick(window_start, ppq)
    window = [n for n in notes if n.end_tick > cut] or list(notes)
    # the first-note prior speaks of a tune's first note, not of one in the middle
    whole = window_start <= first
    first_pitch = min(window, key=lambda n: (n.start_tick, -n.pitch)).pitch if whole else None
    ll = shift_log_likelihoods(model, enc, window, ppq, window_start, end_step)
    if ll is None:
        ll = np.zeros(12)
    return key_from_likelihoods(ll, [(n.pitch, n.duration_ticks) for n in window], first_pitch)
